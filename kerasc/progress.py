"""progress: one status line on stderr while a long command works, e.g.

    ⠹ verify [████████░░░░░░░░] 3/6 building the C (4.1 s)

A task is a known number of stages (reading the model, loading Keras, building the C, ...); the
line shows which one runs, how many are done and for how long. It is redrawn by a small thread,
never from inside C or per timestep, so it costs nothing measurable. It appears only when
stderr is a terminal, not with --quiet, and only for stages that last longer than a moment, and
it is erased when the task ends: stdout and logs stay clean. The Python API is silent by default
(`NULL`).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
from typing import IO, Iterator, Optional

SPINNER, FULL, EMPTY = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏", "█", "░"
ASCII_SPINNER, ASCII_FULL, ASCII_EMPTY = "|/-\\", "#", "-"  # terminals that cannot show the above
BAR_WIDTH = 16
REDRAW_SECONDS = 0.1
SHOW_AFTER_SECONDS = 0.3  # stages shorter than this never draw (no flicker on fast commands)


class Progress:
    """Draws the status line of one task at a time; disabled instances do nothing at all."""

    def __init__(self, enabled: bool, stream: Optional[IO[str]] = None, owned: bool = False):
        self.enabled = enabled
        self._stream = stream
        self._owned = owned  # the stream is our own duplicate: close() closes it
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._title = ""
        self._total = 1
        self._done = 0
        self._text = ""
        self._started = 0.0
        self._drawn = False
        self._glyphs = (SPINNER, FULL, EMPTY)
        try:
            "".join(self._glyphs).encode(getattr(self.stream, "encoding", None) or "ascii")
        except (UnicodeEncodeError, LookupError):
            self._glyphs = (ASCII_SPINNER, ASCII_FULL, ASCII_EMPTY)

    @classmethod
    def for_terminal(cls, quiet: bool = False, stream: Optional[IO[str]] = None) -> "Progress":
        """Enabled when `stream` (default stderr) is a terminal, unless quiet or TERM=dumb.

        It draws on a duplicate of the stream's file descriptor, so the line stays visible while
        verify points descriptor 2 at /dev/null to hush TensorFlow's native start-up messages."""
        given = stream
        stream = stream if stream is not None else sys.stderr
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        if not tty or quiet or os.environ.get("TERM") == "dumb":
            return cls(enabled=False, stream=given)
        try:
            stream.flush()
            own = os.fdopen(os.dup(stream.fileno()), "w", encoding=getattr(stream, "encoding", None) or "utf-8",
                            errors="replace")
        except (AttributeError, ValueError, OSError):
            return cls(enabled=True, stream=stream)
        return cls(enabled=True, stream=own, owned=True)

    @property
    def stream(self) -> IO[str]:
        return self._stream if self._stream is not None else sys.stderr

    def close(self) -> None:
        """Release the duplicated descriptor (the line is already erased when a task ends)."""
        if self._owned and self._stream is not None:
            self._stream.close()
            self._stream, self._owned, self.enabled = None, False, False

    @contextlib.contextmanager
    def task(self, title: str, total: int) -> Iterator["Progress"]:
        """A task of `total` stages; use `stage()` inside it."""
        if not self.enabled:
            yield self
            return
        with self._lock:
            self._title, self._total, self._done, self._text = title, max(1, total), 0, ""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="kerasc-progress", daemon=True)
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()
            self._thread = None
            with self._lock:
                self._erase()

    @contextlib.contextmanager
    def stage(self, text: str) -> Iterator[None]:
        """One stage of the current task: shown while it runs, counted as done when it ends."""
        if not self.enabled:
            yield
            return
        with self._lock:
            self._text, self._started = text, time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self._done = min(self._total, self._done + 1)
                self._text = ""

    def message(self, line: str) -> None:
        """Print a line on the stream without garbling the status line (e.g. a warning)."""
        with self._lock:
            self._erase()
            self.stream.write(line + "\n")
            self.stream.flush()

    def render(self, now: Optional[float] = None) -> str:
        """The status line as it is drawn now (no terminal codes)."""
        now = time.monotonic() if now is None else now
        elapsed = now - self._started
        filled = BAR_WIDTH * self._done // self._total
        spinner, full, empty = self._glyphs
        bar = full * filled + empty * (BAR_WIDTH - filled)
        spin = spinner[int(elapsed / REDRAW_SECONDS) % len(spinner)]
        return f"{spin} {self._title} [{bar}] {self._done}/{self._total} {self._text} ({elapsed:.1f} s)"

    def _run(self) -> None:
        while not self._stop.wait(REDRAW_SECONDS):
            with self._lock:
                if self._text and time.monotonic() - self._started >= SHOW_AFTER_SECONDS:
                    self._draw(self.render())

    def _draw(self, line: str) -> None:
        try:
            width = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            width = 0
        width = width or 80  # 0: the terminal does not say
        if len(line) >= width:  # a narrow terminal: drop the bar before the words
            line = re.sub(r" \[[^\]]*\]", "", line, count=1)
        self.stream.write("\r\x1b[2K" + line[:max(10, width - 1)])
        self.stream.flush()
        self._drawn = True

    def _erase(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._drawn = False


NULL = Progress(enabled=False)
