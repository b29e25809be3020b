"""Plain helpers the tests share: the repository root and the options of tiny training runs."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# A pix2pix run small enough for a test (the synthesis command's options after ``--phantoms`` and friends).
TINY_PIX2PIX = ["--phantoms", "2", "--held-out", "1", "--batch-size", "2", "--g-base-width", "8", "--g-depth", "4",
                "--g-max-width", "16", "--d-base-width", "8", "--d-layers", "2", "--canvas", "64", "--phantom-size",
                "64", "64", "8", "--spacing", "6", "--log-every", "2", "--checkpoint-every", "3", "--threads", "2"]

TINY_ANOMALY_TRAINING = ["--phantoms", "2", "--modality", "ct", "--phantom-size", "64", "64", "12", "--canvas", "64",
                         "--tile", "16", "--latent-dim", "8", "--base-width", "4", "--max-width", "16", "--batch-size",
                         "4", "--critic-steps", "2", "--steps", "2", "--encoder-steps", "2", "--log-every", "1",
                         "--held-out", "1", "--calibration", "1", "--threads", "1", "--snapshot-steps"]
