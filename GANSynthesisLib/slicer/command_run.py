"""Run a ``python -m GANSynthesisLib …`` command (e.g. ``generate``) in a child process and follow it without
blocking: a GUI calls :meth:`CommandRun.poll` from a timer and reads the progress the command prints. Cancel ends
the child as :class:`~GANSynthesisLib.slicer.child_run.ChildRun` does (SIGTERM first, so the command stops between
outputs and leaves none half-written). No MRML and no Qt here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .child_run import LIBRARY_PARENT, end_process_tree, own_process_group

PROGRESS_LINE = re.compile(r":\s+(\d+)% (.*?) \(\d+(?:\.\d+)?s\)$")  # TerminalProgress's lines off a terminal


@dataclass
class CommandStatus:
    """The command's last progress line, and once it has ended, how."""

    fraction: float = 0.0
    message: str = "starting"
    finished: bool = False
    error: str | None = None  # its error line when it failed
    output: str = ""  # what it printed on standard output, once finished


class CommandRun:
    """One command in a child process."""

    def __init__(self, arguments: list[str], python: str | None = None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="GANSynthesis-command-"))
        paths = [str(LIBRARY_PARENT), os.environ.get("PYTHONPATH")]
        environment = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(filter(None, paths)))
        self.status = CommandStatus()
        try:
            with open(self.folder / "stdout.txt", "wb") as stdout, open(self.folder / "stderr.txt", "wb") as stderr:
                self.process = subprocess.Popen([python or sys.executable, "-m", "GANSynthesisLib", *arguments],
                                                stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                                                env=environment, cwd=self.folder, **own_process_group())
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise

    def poll(self) -> CommandStatus:
        """The latest progress and whether the command has ended; never waits."""
        if self.status.finished:
            return self.status
        exit_code = self.process.poll()
        lines = (self.folder / "stderr.txt").read_text("utf-8", "replace").splitlines()
        for line in reversed(lines):
            match = PROGRESS_LINE.search(line)
            if match:
                self.status.fraction, self.status.message = int(match.group(1)) / 100, match.group(2)
                break
        if exit_code is not None:
            self.status.finished = True
            self.status.output = (self.folder / "stdout.txt").read_text("utf-8", "replace").strip()
            if exit_code != 0:
                errors = [line[len("error: "):] for line in lines if line.startswith("error: ")]
                self.status.error = errors[-1] if errors else f"the command ended with exit status {exit_code}"
            shutil.rmtree(self.folder, ignore_errors=True)
        return self.status

    def cancel(self) -> None:
        """End the command and everything it started."""
        if not self.status.finished:
            end_process_tree(self.process)
            self.status.finished = True
            self.status.error = "cancelled"
        shutil.rmtree(self.folder, ignore_errors=True)
