"""Errors raised for problems a user can fix (bad input, missing or tampered models)."""


class GANSynthesisError(Exception):
    """A problem with the user's input or setup, with a message that says what to do about it."""


class CancelledError(GANSynthesisError):
    """The user cancelled a running task; nothing was written."""

    def __init__(self, message: str = "Cancelled by the user; nothing was written.") -> None:
        super().__init__(message)
