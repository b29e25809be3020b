"""SIGTERM and SIGHUP end a command the way Ctrl-C (SIGINT) does: as a KeyboardInterrupt, so that every output
being written is cleaned up on the way out."""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Iterator

TERMINATION_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by a signal other than SIGINT."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = signal_number


def _raise_terminated(signal_number: int, frame) -> None:
    raise Terminated(signal_number)


@contextmanager
def termination_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM and SIGHUP raise :class:`Terminated`; the previous handlers come back after it."""
    previous = {number: signal.signal(number, _raise_terminated) for number in TERMINATION_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def interrupt_exit_status(interrupt: KeyboardInterrupt) -> int:
    """The status a shell reports for a command ended by the interrupt's signal (130 for Ctrl-C)."""
    return 128 + (interrupt.signal_number if isinstance(interrupt, Terminated) else signal.SIGINT)
