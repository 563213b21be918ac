"""Progress for long work: the time left at the measured pace (the CLI's bar and the widgets)."""

from __future__ import annotations

import time


class Eta:
    """Time left at the pace measured from the first report on.

    Work already done at that first report (a resumed run, or the registration before the first
    step) is excluded, so it cannot make the pace look faster or slower than it is.
    """

    def __init__(self):
        self._start: tuple[float, int] | None = None

    def remaining(self, done: int, total: int) -> float | None:
        """Seconds left, or None until a second report gives a pace."""
        now = time.monotonic()
        if self._start is None:
            self._start = now, done
            return None
        start_time, start_done = self._start
        if done <= start_done:
            return None
        return (now - start_time) / (done - start_done) * max(total - done, 0)


def clock(seconds: float | None) -> str:
    """M:SS, or H:MM:SS from an hour on; -:-- while unknown."""
    if seconds is None:
        return "-:--"
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}" if minutes >= 60 else f"{minutes}:{seconds:02d}"
