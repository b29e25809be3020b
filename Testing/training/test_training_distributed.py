"""torchrun with 2 CPU processes (gloo): replicas stay identical; a killed run resumes and finishes."""

import json
import os
import subprocess
import sys

from support import ROOT, TINY_ANOMALY_TRAINING

TINY = ["--phantoms", "2", "--held-out", "1", "--batch-size", "2", "--g-base-width", "8", "--g-depth", "4",
        "--g-max-width", "16", "--d-base-width", "8", "--d-layers", "2", "--canvas", "64", "--phantom-size", "64",
        "64", "8", "--spacing", "6", "--log-every", "2", "--threads", "1", "--snapshot-steps"]


def torchrun(command_name, *args, processes=2, **popen):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", "-m",
               "GANSynthesisTraining", command_name, *map(str, args)]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=os.environ | {"OMP_NUM_THREADS": "1"}, **popen)


def finished(process, timeout=300):
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-3000:]
    return output


def test_two_gloo_processes_keep_identical_pix2pix_replicas(tmp_path):
    run = tmp_path / "run"
    finished(torchrun("synthesis", *TINY, "--steps", "4", "--ema-decay", "0.9", "--run-dir", run))
    replicas = json.loads((run / "replicas.json").read_text())
    assert replicas["processes"] == 2
    assert replicas["max_weight_difference"] == 0.0 and replicas["max_weight_and_buffer_difference"] == 0.0
    assert [line.split(",")[0] for line in (run / "losses.csv").read_text().splitlines()] == ["step", "2", "4"]
    assert json.loads((run / "config.json").read_text())["processes"] == 2


def test_two_gloo_processes_keep_identical_cyclegan_replicas(tmp_path):
    run = tmp_path / "run"
    finished(torchrun("cyclegan", "--phantoms", "2", "--held-out", "0", "--batch-size", "2",
                      "--g-base-width", "4", "--g-blocks", "1", "--d-base-width", "4", "--d-layers", "2", "--canvas",
                      "64", "--phantom-size", "64", "64", "8", "--spacing", "6", "--log-every", "2", "--threads", "1",
                      "--steps", "4", "--snapshot-steps", "--pool-size", "4", "--accumulation-steps", "2",
                      "--run-dir", run))
    assert json.loads((run / "replicas.json").read_text())["max_weight_and_buffer_difference"] == 0.0


def test_a_killed_run_resumes_and_finishes(tmp_path):
    """benchmarks/resume_drill.py: SIGKILL two gloo workers mid-run, resume, finish with identical replicas."""
    run = tmp_path / "run"
    drill = subprocess.run([sys.executable, "benchmarks/resume_drill.py", "--processes", "2", "--run-dir", run,
                            "--checkpoint-every", "2", "--kill-after", "4", "--more-steps", "4", "--", *TINY],
                           cwd=ROOT, capture_output=True, text=True, timeout=600,
                           env=os.environ | {"OMP_NUM_THREADS": "1"})
    assert drill.returncode == 0, drill.stdout[-3000:] + drill.stderr[-3000:]
    killed_at = int(drill.stdout.split("last checkpoint at step ")[1].split()[0])
    assert killed_at >= 4
    assert f"ok: it resumed at step {killed_at}" in drill.stdout
    assert json.loads((run / "checkpoint.json").read_text())["step"] == killed_at + 4
    assert json.loads((run / "replicas.json").read_text())["max_weight_difference"] == 0.0


def test_two_gloo_processes_keep_identical_anomaly_gan_replicas(tmp_path):
    """f-AnoGAN: WGAN-GP (gradient penalty, several critic steps, micro-batches) and then the encoder."""
    run = tmp_path / "run"
    arguments = [*TINY_ANOMALY_TRAINING, "--accumulation-steps", "2", "--run-dir", run]
    output = finished(torchrun("fanogan", *arguments))
    for phase in ("wgan", "encoder"):
        replicas = json.loads((run / phase / "replicas.json").read_text())
        assert replicas["processes"] == 2 and replicas["max_weight_and_buffer_difference"] == 0.0, phase
    assert output.count("AUROC") == 1  # rank 0 alone evaluates
