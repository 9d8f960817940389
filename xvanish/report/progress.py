"""A one-line progress bar on stderr that keeps out of Hydra's logging and out of files.

It draws only when stderr is a terminal (so logs, CI output and redirected runs stay
clean), redraws in place with ``\\r``, erases itself before any log record is printed
(a filter on the root logger's handlers) and when it closes.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

__all__ = ["ProgressBar"]

_ERASE = "\r\x1b[K"  # carriage return + ANSI "erase to end of line"


class _EraseBeforeLog(logging.Filter):
    """Clears the bar's line before a handler writes a record (the bar redraws on its next step)."""

    def __init__(self, bar: "ProgressBar") -> None:
        super().__init__()
        self.bar = bar

    def filter(self, record: logging.LogRecord) -> bool:
        self.bar.erase()
        return True


class ProgressBar:
    """Counts finished steps of a run: ``[#####-----] 5/10 depth=16 3.2s``.

    Args:
        total: number of steps.
        stream: where to draw (default: ``sys.stderr``).
        enabled: draw at all; default: only when ``stream`` is a terminal.
        width: characters of the bar itself.

    Example:
        >>> with ProgressBar(total=3, enabled=False) as bar:
        ...     for item in bar.wrap([1, 2, 3], label=str):
        ...         pass
    """

    def __init__(self, total: int, stream: IO[str] | None = None, enabled: bool | None = None, width: int = 24) -> None:
        self.total = max(int(total), 1)
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.width = width
        self.done = 0
        self.label = ""
        self._start = time.perf_counter()
        self._shown = False
        self._filter = _EraseBeforeLog(self)

    def __enter__(self) -> "ProgressBar":
        if self.enabled:
            for handler in logging.getLogger().handlers:
                handler.addFilter(self._filter)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Erase the bar and detach from logging."""
        self.erase()
        for handler in logging.getLogger().handlers:
            handler.removeFilter(self._filter)

    def erase(self) -> None:
        if self._shown:
            self.stream.write(_ERASE)
            self.stream.flush()
            self._shown = False

    def render(self) -> str:
        """The bar's text for the current state."""
        filled = int(round(self.width * self.done / self.total))
        elapsed = time.perf_counter() - self._start
        bar = "#" * filled + "-" * (self.width - filled)
        return f"[{bar}] {self.done}/{self.total} {self.label} {elapsed:.1f}s".rstrip()

    def draw(self) -> None:
        if self.enabled:
            self.stream.write(_ERASE + self.render())
            self.stream.flush()
            self._shown = True

    def wrap(
        self, items: Iterable[Any], label: Callable[[Any], str] = str, after: Callable[[], None] | None = None
    ) -> Iterator[Any]:
        """Yield ``items``, counting each as a step once the caller asks for the next one.

        Args:
            items: the steps.
            label: text shown while an item is being worked on.
            after: called after each item's work is done (the caller resumed the iteration),
                e.g. to write a file with the rows so far.
        """
        for item in items:
            self.label = label(item)
            self.draw()
            yield item
            self.done += 1
            if after is not None:
                after()
            self.draw()
