"""How far a walk over the keys has got, on stderr.

A purge of millions of keys takes minutes: on a terminal one line is
rewritten in place; in a log (stderr not a terminal) a line every few batches.
"""

from __future__ import annotations

from typing import Any, Optional, TextIO, Tuple


class Progress:
    """``deleted/scanned`` on stderr: rewritten in place on a terminal, else a line every few batches."""

    def __init__(self, stream: TextIO, label: str, total: Optional[int], every: int):
        self.stream = stream
        self.label = label
        self.total = total
        self.every = every
        self.tty = isatty(stream)
        self.batches = 0
        self._width = 0  # of the line on the terminal, to blank what a shorter one leaves
        self._last: Optional[Tuple[int, Optional[int]]] = None  # the counts of the last line written

    def line(self, scanned: int, deleted: Optional[int]) -> str:
        parts = [self.label + ":"]
        if self.total:
            done = min(1.0, scanned / self.total)  # (floored, as the bar is: 100% means all of them)
            filled = int(done * 30)
            parts.append(f"[{'#' * filled}{'.' * (30 - filled)}] {int(done * 100):3d}%")
        if deleted is not None:
            parts.append(f"deleted {deleted} /")
        parts.append(f"scanned {scanned}" + (f" of ~{self.total}" if self.total is not None else "") + " keys")
        return " ".join(parts)

    def update(self, scanned: int, deleted: Optional[int] = None) -> None:
        self.batches += 1
        if self.tty:
            self.stream.write("\r" + self._padded(self.line(scanned, deleted)))
            self.stream.flush()
        elif self.batches % self.every == 0:
            self.stream.write(self.line(scanned, deleted) + "\n")
            self.stream.flush()
            self._last = (scanned, deleted)

    def finish(self, scanned: int, deleted: Optional[int] = None) -> None:
        """The final count: ends the terminal's line, or is the last line (unless it just was)."""
        line = self.line(scanned, deleted)
        if self.tty:
            self.stream.write("\r" + self._padded(line) + "\n")
        elif self._last != (scanned, deleted):
            self.stream.write(line + "\n")
        self.stream.flush()

    def _padded(self, line: str) -> str:
        padded = line.ljust(self._width)
        self._width = len(line)
        return padded


class Silent(Progress):
    """No progress at all: what ``stats`` shows when stderr is not a terminal, so
    that a monitoring job's log holds only what went wrong."""

    def update(self, scanned: int, deleted: Optional[int] = None) -> None:
        pass

    def finish(self, scanned: int, deleted: Optional[int] = None) -> None:
        pass


def isatty(stream: Any) -> bool:
    """Whether ``stream`` is a terminal; False for a stand-in stream without ``isatty``."""
    method = getattr(stream, "isatty", None)
    return bool(method()) if callable(method) else False
