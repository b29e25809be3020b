"""Run a prepared task in a child Python process and follow it without blocking (the parent side of
:mod:`GANSynthesisLib.slicer.worker`).

A GUI calls :meth:`ChildRun.poll` from a timer: each call reads the progress lines the child wrote since the
last one (standard output goes to a file, so nothing can block on a full pipe) and says whether it ended.
:meth:`ChildRun.cancel` ends the child within a second. The run folder is deleted when the run ends, however
it ends. No MRML and no Qt here: the caller publishes the result.

In Slicer the program started is ``PythonSlicer``, a launcher that runs the real Python as its own child and
passes no signal on; so the child gets a process group (POSIX) or process tree (Windows) of its own and cancel
ends all of it. The child also ends when its standard input closes, which happens when the parent dies.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import GANSynthesisError
from ..tasks.spec import TaskResult
from .worker import INPUT_VOLUME, read_result, write_exchange_volume, write_request

LIBRARY_PARENT = Path(__file__).resolve().parents[2]
KILL_GRACE_SECONDS = 0.5  # after the polite signal, before the kill
EXIT_WITH_PARENT = "--exit-when-stdin-closes"


def own_process_group() -> dict:
    """Popen options that give the child (and a launcher's children) a group of their own, without a console
    window on Windows."""
    if os.name == "nt":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW}
    return {"start_new_session": True}


def end_process_tree(process: subprocess.Popen) -> None:
    """End ``process`` and every process it started (a launcher's real Python too), within about a second."""
    if os.name == "nt":
        subprocess.run(["taskkill", "/T", "/F", "/PID", str(process.pid)], capture_output=True,
                       creationflags=subprocess.CREATE_NO_WINDOW)
        process.wait()
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):  # the group outlives its leader while a member lives
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(KILL_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            pass
    process.wait()


@dataclass
class ChildStatus:
    """What the child said last: its progress, and once it has ended, how."""

    fraction: float = 0.0
    message: str = "starting"
    device: str | None = None  # the device the child runs on, once it has said
    finished: bool = False
    error: str | None = None  # the child's error line, when it failed


class ChildRun:
    """One task in a child process: started by :meth:`start`, followed by :meth:`poll`, ended by
    :meth:`take_result` or :meth:`cancel`."""

    def __init__(self, python: str | None = None) -> None:
        self.python = python or sys.executable
        self.folder: Path | None = None
        self.process: subprocess.Popen | None = None
        self.status = ChildStatus()
        self._read_offset = 0

    def start(self, task: str, volume, model_folder: Path, inputs: dict, device: str = "auto",
              batch_size: int | None = None) -> None:
        """Write the input and the request to a new run folder and start the child on it."""
        self.folder = Path(tempfile.mkdtemp(prefix="GANSynthesis-run-"))
        try:
            write_exchange_volume(volume, self.folder, INPUT_VOLUME)
            write_request(self.folder, task, model_folder, inputs, device, batch_size)
            environment = dict(os.environ, PYTHONUNBUFFERED="1",
                               PYTHONPATH=os.pathsep.join(filter(None, [str(LIBRARY_PARENT),
                                                                        os.environ.get("PYTHONPATH")])))
            with open(self.folder / "stdout.txt", "wb") as stdout, open(self.folder / "stderr.txt", "wb") as stderr:
                self.process = subprocess.Popen(
                    [self.python, "-m", "GANSynthesisLib.slicer.worker", str(self.folder), EXIT_WITH_PARENT],
                    stdout=stdout, stderr=stderr, stdin=subprocess.PIPE, env=environment, cwd=self.folder,
                    **own_process_group())
        except BaseException:
            self._remove_folder()
            raise

    @property
    def running(self) -> bool:
        """Whether the child is still at work."""
        return self.process is not None and not self.status.finished

    def poll(self) -> ChildStatus:
        """Read the child's new progress lines and whether it has ended; never waits."""
        if self.process is None or self.status.finished:
            return self.status
        exit_code = self.process.poll()
        self._read_progress()
        if exit_code is not None:
            self._read_progress()  # lines written just before the exit
            self._close_stdin()
            self.status.finished = True
            if exit_code != 0:
                self.status.error = self._error_line(exit_code)
                self._remove_folder()
        return self.status

    def take_result(self) -> TaskResult:
        """The finished child's result; the run folder is removed."""
        if not self.status.finished or self.status.error is not None:
            raise GANSynthesisError("The run has not finished successfully; there is no result to take.")
        try:
            return read_result(self.folder)
        finally:
            self._remove_folder()

    def cancel(self) -> None:
        """End the child and everything it started, and remove the run folder."""
        if self.process is not None:
            self._close_stdin()
            end_process_tree(self.process)
        self.status.finished = True
        self._remove_folder()

    def _close_stdin(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()

    def _read_progress(self) -> None:
        if self.folder is None:
            return
        with open(self.folder / "stdout.txt", "rb") as stream:
            stream.seek(self._read_offset)
            chunk = stream.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written is read next time
        self._read_offset += len(complete)
        for line in complete.decode("utf-8", "replace").splitlines():
            try:
                report = json.loads(line)
            except json.JSONDecodeError:
                continue  # a library's own print
            if isinstance(report, dict) and "progress" in report:
                self.status.fraction, self.status.message = float(report["progress"]), str(report.get("message", ""))
                self.status.device = report.get("device", self.status.device)

    def _error_line(self, exit_code: int) -> str:
        lines = (self.folder / "stderr.txt").read_text("utf-8", "replace").strip().splitlines()
        errors = [line[len("error: "):] for line in lines if line.startswith("error: ")]
        if errors:
            return errors[-1]
        last = lines[-1] if lines else "no message"
        return f"The model process ended with exit status {exit_code}: {last}"

    def _remove_folder(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
