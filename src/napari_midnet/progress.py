"""A dependency-free terminal progress bar for the CLI (stderr, redrawn in place)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    def __init__(self, label: str, total: int, stream=None, width: int = 28):
        self.label, self.total, self.width = label, max(total, 1), width
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self.interactive = self.stream.isatty()
        self._last_draw = 0.0

    def update(self, done: int, note: str = "") -> None:
        now = time.monotonic()
        if now - self._last_draw < (0.1 if self.interactive else 10.0) and done < self.total:
            return
        self._last_draw = now
        fraction = min(done / self.total, 1.0)
        elapsed = now - self.start
        eta = elapsed / fraction - elapsed if fraction > 0 else 0.0
        filled = int(fraction * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"{self.label} [{bar}] {done}/{self.total} {note} ETA {_clock(eta)}"
        self.stream.write(("\r" + line + "\x1b[K") if self.interactive else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}" if minutes >= 60 else f"{minutes}:{seconds:02d}"
