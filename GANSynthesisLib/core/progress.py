"""A progress bar on the terminal (stderr) for long runs."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class TerminalProgress:
    """Callable progress hook ``(fraction, message)``: a redrawn bar on a terminal, sparse lines otherwise."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label, self.stream, self.width = label, stream or sys.stderr, width
        self.started = time.perf_counter()
        self.last_tenth = -1

    def __call__(self, fraction: float, message: str = "") -> None:
        elapsed = time.perf_counter() - self.started
        if self.stream.isatty():
            filled = int(round(fraction * self.width))
            bar = "█" * filled + "·" * (self.width - filled)
            self.stream.write(f"\r{self.label} {bar} {fraction:4.0%} {message} {elapsed:5.1f}s")
            if fraction >= 1:
                self.stream.write("\n")
        elif int(fraction * 10) > self.last_tenth:
            self.last_tenth = int(fraction * 10)
            self.stream.write(f"{self.label}: {fraction:4.0%} {message} ({elapsed:.1f}s)\n")
        self.stream.flush()
