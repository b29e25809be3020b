"""Kill a torchrun training mid-run and resume it: does it finish, and what did the kill cost?

Starts ``torchrun -m GANSynthesisTraining <command> … --run-dir RUN``, waits for a checkpoint at or past ``--kill-after`` steps,
kills the launcher and its workers (SIGKILL, nothing flushed), then runs the same command with ``--resume``
and ``--steps`` raised by ``--more-steps``. Checks that it resumed from the checkpoint the kill left, reached the
last step and left identical replicas; prints the timings. Exit status 1 when a check fails (the test suite
runs it with 2 gloo processes).

    python benchmarks/resume_drill.py --run-dir runs/drill --processes 1 -- --phantoms 8 --device cuda …
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent


def torchrun(training_command: str, processes: int, arguments: list[str], log: IO[str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               "-m", "GANSynthesisTraining", training_command, *arguments]
    return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def tail(log: IO[str], characters: int = 4000) -> str:
    log.seek(0)
    return log.read()[-characters:]


def checkpoint_step(run_dir: Path) -> int:
    state = run_dir / "checkpoint.json"
    try:
        return json.loads(state.read_text())["step"] if state.exists() else 0
    except json.JSONDecodeError:  # being written
        return 0


def kill(process: subprocess.Popen, run_dir: Path) -> None:
    """SIGKILL the launcher's process group and every worker of this run (workers may start sessions of their own)."""
    os.killpg(process.pid, signal.SIGKILL)
    found = subprocess.run(["pgrep", "-f", "--", f"--run-dir {run_dir}"], capture_output=True, text=True).stdout.split()
    for pid in {int(p) for p in found} - {os.getpid()}:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:  # gone with its group
            pass
    process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--command", default="synthesis",
                        help="training command run by torchrun (python -m GANSynthesisTraining COMMAND)")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--checkpoint-every", type=int, default=20)
    parser.add_argument("--kill-after", type=int, default=40, help="kill once a checkpoint has this many steps")
    parser.add_argument("--more-steps", type=int, default=20, help="steps the resumed run adds after the kill")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds each phase may take")
    parser.add_argument("trainer_arguments", nargs=argparse.REMAINDER, help="after --: the trainer's arguments")
    args = parser.parse_args()
    trainer_arguments = [a for a in args.trainer_arguments if a != "--"]
    common = [*trainer_arguments, "--checkpoint-every", str(args.checkpoint_every), "--run-dir", str(args.run_dir)]
    if args.run_dir.exists() and any(args.run_dir.iterdir()):
        parser.error(f"{args.run_dir} is not empty; give a new --run-dir")

    with tempfile.TemporaryFile("w+") as first_log, tempfile.TemporaryFile("w+") as second_log:
        start = time.perf_counter()
        first = torchrun(args.command, args.processes, [*common, "--steps", "1000000000"], first_log)
        while checkpoint_step(args.run_dir) < args.kill_after:
            if first.poll() is not None:
                print(tail(first_log))
                print(f"FAILED: the first run ended (status {first.returncode}) before step {args.kill_after}")
                return 1
            if time.perf_counter() - start > args.timeout:
                kill(first, args.run_dir)
                print(f"FAILED: no checkpoint at step {args.kill_after} within {args.timeout:.0f} s")
                return 1
            time.sleep(0.2)
        killed_after = time.perf_counter() - start
        kill(first, args.run_dir)
        killed_at = checkpoint_step(args.run_dir)
        final = killed_at + args.more_steps
        print(f"killed after {killed_after:.1f} s; last checkpoint at step {killed_at}", flush=True)

        start = time.perf_counter()
        second = torchrun(args.command, args.processes, [*common, "--steps", str(final), "--resume"], second_log)
        try:
            second.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            kill(second, args.run_dir)
            print(f"FAILED: the resumed run did not finish within {args.timeout:.0f} s")
            return 1
        resumed_for = time.perf_counter() - start
        output = tail(second_log, 10**6)
    replicas = args.run_dir / "replicas.json"
    checks = {
        "the resumed run exited with status 0": second.returncode == 0,
        f"it resumed at step {killed_at}": f"resumed at step {killed_at}" in output,
        f"its last checkpoint is step {final}": checkpoint_step(args.run_dir) == final,
        "its replicas are identical": (args.processes == 1 or (replicas.exists() and json.loads(
            replicas.read_text())["max_weight_and_buffer_difference"] == 0.0)),
    }
    if not all(checks.values()):
        print(output[-4000:])
    for check, passed in checks.items():
        print(f"{'ok' if passed else 'FAILED'}: {check}")
    print(f"resumed run: {args.more_steps} steps in {resumed_for:.1f} s, start-up included")
    return 0 if all(checks.values()) else 1

if __name__ == "__main__":
    sys.exit(main())
