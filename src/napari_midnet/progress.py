"""Progress for long work: the time left at the measured pace (CLI and widgets) and a
dependency-free terminal progress bar for the CLI (stderr, redrawn in place)."""

from __future__ import annotations

import sys
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


class ProgressBar:
    def __init__(self, label: str, total: int, stream=None, width: int = 28):
        self.label, self.total, self.width = label, max(total, 1), width
        self.stream = stream or sys.stderr
        self.eta = Eta()
        self.interactive = self.stream.isatty()
        self._last_draw = 0.0

    def update(self, done: int, note: str = "") -> None:
        eta = self.eta.remaining(done, self.total)
        now = time.monotonic()
        if now - self._last_draw < (0.1 if self.interactive else 10.0) and done < self.total:
            return
        self._last_draw = now
        filled = int(min(done / self.total, 1.0) * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"{self.label} [{bar}] {done}/{self.total} {note} ETA {clock(eta)}"
        self.stream.write(("\r" + line + "\x1b[K") if self.interactive else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()
