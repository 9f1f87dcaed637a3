"""Progress of long command-line work on a terminal: one line on stderr, rewritten with ``\\r``.

``perpdesk verify`` (the chains, the replay), ``perpdesk replay`` (lines read) and the headless
demo (setup, steps) report through one :class:`Progress`. It draws only when its stream is a
terminal (``isatty()``), unless forced on or off (``--progress`` / ``--no-progress``), and at most
once per ``interval`` (0.2 s: five updates a second), so a caller may call :meth:`Progress.update`
often; callers in a hot loop still call it only every N items or between chunks. When it does not
draw it writes nothing at all: output to a pipe or a file stays byte-identical.

No dependencies; the clock is injectable (tests use a fake one, never wall time). Not part of the
engine core (no state, no effect on any command or hash).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def _is_tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def fmt_duration(seconds: float) -> str:
    """``0:07``, ``12:34``, ``1:02:03``."""
    s = max(0, int(seconds + 0.5))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def fmt_rate(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 10 else f"{rate:,.1f}"


class Progress:
    """One progress line; :meth:`phase` starts a new piece of work (label, total, unit)."""

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None, *,
                 clock: Callable[[], float] = time.monotonic, interval: float = 0.2) -> None:
        self.stream = stream if stream is not None else sys.stderr
        # None: on when the stream is a terminal; True/False: forced (--progress / --no-progress)
        self.active = _is_tty(self.stream) if enabled is None else bool(enabled)
        self.clock = clock
        self.interval = interval
        self.label = ""
        self.total: int | None = None
        self.unit = ""
        self._t0 = clock() if self.active else 0.0
        self._last = self._t0  # the first line only after one interval: quick work shows nothing
        self._shown = 0  # width of the line on screen (0: none)

    def phase(self, label: str, total: int | None = None, unit: str = "rows") -> None:
        """A new piece of work: its counter, rate and time left start afresh."""
        if not self.active:
            return
        self.label, self.total, self.unit = label, total, unit
        self._t0 = self.clock()

    def update(self, done: int, fraction: float | None = None) -> None:
        """``done`` items so far; ``fraction`` (0..1) when the share done is known otherwise (bytes
        read, engine time): it sets the time left. Draws at most once per ``interval``."""
        if not self.active:
            return
        now = self.clock()
        if now - self._last < self.interval:
            return
        self._last = now
        self._draw(self.render(done, now - self._t0, fraction))

    def render(self, done: int, elapsed: float, fraction: float | None = None) -> str:
        """The line for ``done`` items after ``elapsed`` seconds (no ``\\r``)."""
        total = self.total
        if fraction is None and total:
            fraction = done / total
        parts = [f"{self.label}: {done:,}" + (f"/{total:,}" if total is not None else "") + f" {self.unit}"]
        if fraction is not None:
            parts[0] += f" ({min(max(fraction, 0.0), 1.0) * 100:.0f}%)"
        if elapsed > 0 and done > 0:
            parts.append(f"{fmt_rate(done / elapsed)} {self.unit}/s")
            if fraction is not None and fraction > 0:
                parts.append(f"{fmt_duration(elapsed * max(0.0, 1.0 - fraction) / fraction)} left")
        return "  ".join(parts)

    def _draw(self, line: str) -> None:
        pad = " " * max(0, self._shown - len(line))  # rub out the rest of a longer line before
        try:
            self.stream.write("\r" + line + pad)
            self.stream.flush()
        except (OSError, ValueError):  # a closed terminal never stops the work
            self.active = False
            return
        self._shown = len(line)

    def clear(self) -> None:
        """Take the line off the screen (before printing something else to the terminal)."""
        if not self.active or not self._shown:
            return
        try:
            self.stream.write("\r" + " " * self._shown + "\r")
            self.stream.flush()
        except (OSError, ValueError):
            self.active = False
        self._shown = 0

    def close(self) -> None:
        """The work is over: the line goes, nothing is left behind."""
        self.clear()


NO_PROGRESS = Progress(enabled=False)  # for callers that report to nobody
