"""The files one run writes, handled as a whole: checked before any computing, locked against other runs,
written to hidden temporary files beside their targets and moved into place together, or not at all.

A path that resolves to one of the run's inputs is never written, an existing file is replaced only with
``overwrite``, and a second run that wants an output another run holds is refused. After an error or an
interruption no temporary or lock file is left behind.
"""

from __future__ import annotations

import errno
import os
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Iterable, Iterator

from ..core.errors import GANSynthesisError

try:
    import fcntl
except ImportError:  # Windows: the lock file itself (created exclusively) is the lock
    fcntl = None

_UMASK = os.umask(0)
os.umask(_UMASK)
_HELD_SIGNALS = {signal.SIGINT} | {getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)}
_written: list[Path] = []  # every output this process has committed, for the message after an interruption


def written_paths() -> list[Path]:
    """The outputs this process has moved into place so far."""
    return list(_written)


def _same_file(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it, after resolving links."""
    path, folder = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    return path == folder or folder in path.parents


def check_output_path(path: str | os.PathLike, overwrite: bool = False, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """``path`` if a run may write it: not a folder, not one of ``inputs`` (nor inside a DICOM input folder), not
    existing unless ``overwrite``, in an existing folder."""
    path = Path(path)
    for source in inputs:
        source = Path(source)
        if _same_file(path, source) or (source.is_dir() and _inside(path, source)):
            raise GANSynthesisError(f"Output {path} is the input {source} (or inside it); the input is never "
                                    "overwritten. Choose another output name.")
    if path.is_dir():
        raise GANSynthesisError(f"Output {path} is a folder; give a file name.")
    if path.exists() and not overwrite:
        raise GANSynthesisError(f"Output {path} already exists; choose another name or pass --overwrite.")
    if not path.parent.is_dir():
        what = "is not a folder" if path.parent.exists() else "does not exist; create it first"
        raise GANSynthesisError(f"Output folder {path.parent} {what}.")
    return path


def check_output_folder(folder: str | os.PathLike, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """``folder``, created if missing; refused when it is a file or lies inside an input folder."""
    folder = Path(folder)
    for source in inputs:
        if Path(source).is_dir() and _inside(folder, Path(source)):
            raise GANSynthesisError(f"Output folder {folder} is the input folder {source} or inside it, so a rerun "
                                    "would take the outputs for cases; choose a folder outside it.")
    if folder.exists() and not folder.is_dir():
        raise GANSynthesisError(f"Output folder {folder} is a file; give a folder.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise GANSynthesisError(f"Cannot create output folder {folder}: {error.strerror}.") from error
    return folder


class _Lock:
    """An exclusive claim on one output path: a hidden lock file beside it, held while the run writes."""

    def __init__(self, path: Path) -> None:
        self.file = path.with_name(f".{path.name}.lock")
        self.descriptor: int | None = None
        for _ in range(5):
            if self._try_take(path):
                return
        raise GANSynthesisError(f"Could not lock {path}; try again.")

    def _try_take(self, path: Path) -> bool:
        busy = GANSynthesisError(f"Another run is writing {path} now; wait for it to finish or choose another "
                                 f"output (if no other run is going, delete {self.file}).")
        flags = os.O_RDWR | os.O_CREAT | (0 if fcntl else os.O_EXCL)
        try:
            descriptor = os.open(self.file, flags, 0o600)
        except FileExistsError as error:
            raise busy from error
        except OSError as error:
            raise GANSynthesisError(f"Cannot write in {path.parent}: {error.strerror}.") from error
        if fcntl is None:
            self.descriptor = descriptor
            return True
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(descriptor)
            if error.errno in (errno.EAGAIN, errno.EACCES):
                raise busy from error
            raise
        try:  # the holder before us may have removed the file we locked: then lock the new one
            if os.fstat(descriptor).st_ino == os.stat(self.file).st_ino:
                self.descriptor = descriptor
                return True
        except FileNotFoundError:
            pass
        os.close(descriptor)
        return False

    def release(self) -> None:
        if self.descriptor is not None:
            try:
                os.unlink(self.file)
            except FileNotFoundError:
                pass
            os.close(self.descriptor)
            self.descriptor = None


@contextmanager
def _signals_held() -> Iterator[None]:
    """Within the block Ctrl-C, SIGTERM and SIGHUP wait until it ends (in the main thread, where Python runs signal
    handlers), so that a file created there is also recorded before the interrupt arrives."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    previous = {number: signal.signal(number, lambda number, _frame: arrived.append(number))
                for number in _HELD_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if arrived:
            handler = previous[arrived[0]]
            if callable(handler):
                handler(arrived[0], None)  # e.g. raises KeyboardInterrupt
            elif handler == signal.SIG_DFL:
                signal.raise_signal(arrived[0])


class OutputSet:
    """The outputs of one run. Use as a context manager: write each output to :meth:`staged`; leaving the block
    normally moves all of them into place, an exception leaves none of them (and no temporary file)."""

    def __init__(self, paths: Iterable[str | os.PathLike], overwrite: bool = False,
                 inputs: Iterable[str | os.PathLike] = ()) -> None:
        self.paths = [Path(p) for p in paths]
        self.overwrite = overwrite
        self.inputs = [Path(p) for p in inputs]
        self._locks: list[_Lock] = []
        self._staged: dict[Path, Path] = {}

    def __enter__(self) -> "OutputSet":
        real = [os.path.realpath(p) for p in self.paths]
        duplicates = {str(p) for p, r in zip(self.paths, real) if real.count(r) > 1}
        if duplicates:
            raise GANSynthesisError(f"Two outputs of one run are the same file ({', '.join(sorted(duplicates))}); "
                                    "give each output its own name.")
        try:
            for path in self.paths:
                check_output_path(path, self.overwrite, self.inputs)
            for path in self.paths:
                with _signals_held():  # a lock or temporary file is always recorded, so _discard removes it
                    self._locks.append(_Lock(path))
                    self._staged[path] = self._reserve(path)
        except BaseException:
            self._discard()
            raise
        return self

    def _reserve(self, path: Path) -> Path:
        suffix = next((s for s in (".nii.gz",) if path.name.lower().endswith(s)), path.suffix)
        try:
            descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".partial{suffix}", dir=path.parent)
        except OSError as error:
            raise GANSynthesisError(f"Cannot write {path}: {error.strerror}.") from error
        if hasattr(os, "fchmod"):  # as a plainly created file would be, not mkstemp's owner-only mode
            os.fchmod(descriptor, 0o666 & ~_UMASK)
        os.close(descriptor)
        return Path(name)

    def staged(self, path: str | os.PathLike) -> Path:
        """The temporary file to write ``path``'s content to."""
        return self._staged[Path(path)]

    def _discard(self) -> None:
        for temporary in self._staged.values():
            try:
                temporary.unlink()
            except FileNotFoundError:
                pass
        self._staged.clear()
        for lock in self._locks:
            lock.release()
        self._locks.clear()

    def _commit(self) -> None:
        with _signals_held():
            for path, temporary in list(self._staged.items()):
                try:
                    os.replace(temporary, path)
                except OSError as error:
                    raise GANSynthesisError(f"Cannot write {path}: {error.strerror}.") from error
                del self._staged[path]
                _written.append(path)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        try:
            if kind is None:
                self._commit()
        finally:
            self._discard()
