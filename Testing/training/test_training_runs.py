"""Training code on tiny real runs: artifacts, resume, losses, data layouts, export."""

import csv
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from safetensors.torch import load_file

from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.engine.inference import InferenceOptions
from GANSynthesisLib.files.image_files import volume_to_sitk
from GANSynthesisLib.models.bundle import load_bundle
from GANSynthesisLib.tasks.synthesis.labels_to_ct import synthesize
from GANSynthesisTraining.data.paired_cases import phantom_cases
from GANSynthesisTraining.data.splits import split_cases
from GANSynthesisTraining.data.volume_files import csv_cases, mmwhs_cases
from GANSynthesisTraining.families.cyclegan.model import CycleGANConfig, CycleGANTrainer
from GANSynthesisTraining.families.pix2pix import synthesis
from GANSynthesisTraining.families.pix2pix.model import Pix2PixConfig, Pix2PixTrainer
from GANSynthesisTraining.loop.checkpoint import load_checkpoint, save_checkpoint
from GANSynthesisTraining.loop.monitoring import validation_error
from GANSynthesisTraining.loop.trainer import duration

from support import ROOT, TINY_PIX2PIX as TINY


def test_a_tiny_run_writes_every_artifact_and_a_usable_bundle(tmp_path):
    run, export = tmp_path / "run", tmp_path / "bundle"
    assert synthesis.main(TINY + ["--steps", "6", "--snapshot-steps", "0", "6", "--validation", "1",
                                        "--phantom-supersample", "3", "--run-dir", str(run), "--export", str(export),
                                        "--name", "tiny-trained"]) == 0
    for name in ("losses.csv", "losses.png", "checkpoint.safetensors", "checkpoint.json", "metrics.json",
                 "held_out.png", "split.json", "config.json", "snapshots/step_000000.png", "snapshots/step_000006.png",
                 "validation.csv", "validation.png"):
        assert (run / name).is_file(), name
    assert json.loads((run / "split.json").read_text()) == {"train": ["phantom-0", "phantom-1"],
                                                            "validation": ["phantom-70000"], "test": ["phantom-90000"]}
    validation = list(csv.DictReader(open(run / "validation.csv")))
    assert [int(r["step"]) for r in validation] == [3, 6] and all(0 < float(r["mae_hu"]) < 3024 for r in validation)
    rows = list(csv.DictReader(open(run / "losses.csv")))
    assert [int(r["step"]) for r in rows] == [2, 4, 6] and all(float(r["loss_g_l1"]) > 0 for r in rows)
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["baselines"]) == {"per-label mean HU"} and metrics["cases"] == 1
    bundle = load_bundle(export)
    assert bundle.manifest.metrics["model"]["mae"] == pytest.approx(metrics["model"]["mae"])
    assert "per-label mean HU" in (export / "README.md").read_text() and (export / "held_out.png").is_file()
    assert bundle.manifest.training["data"].endswith("64×64×8 voxels at 3 mm, partial volume from 3³ samples per "
                                                        "voxel); no patient data")
    assert bundle.manifest.metrics["data"].endswith("partial volume from 3³ samples per voxel")
    case = phantom_cases([123], (64, 64, 8), (6.0, 6.0, 6.0))[0]
    out = synthesize(case.source, bundle, options=InferenceOptions(device="cpu"))
    assert out.same_geometry(case.source) and np.isfinite(out.array).all()


def test_resume_after_an_interruption_matches_an_uninterrupted_run(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    validated = TINY + ["--snapshot-steps", "--validation", "1"]
    synthesis.main(validated + ["--steps", "6", "--run-dir", str(straight)])
    synthesis.main(validated + ["--steps", "3", "--run-dir", str(resumed)])
    synthesis.main(validated + ["--steps", "6", "--run-dir", str(resumed), "--resume"])
    a = load_file(str(straight / "checkpoint.safetensors"))
    b = load_file(str(resumed / "checkpoint.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6, msg=key)
    steps = [int(r["step"]) for r in csv.DictReader(open(resumed / "losses.csv"))]
    assert steps == [2, 3, 4, 6]
    curves = [[(int(r["step"]), float(r["mae_hu"])) for r in csv.DictReader(open(run / "validation.csv"))]
              for run in (straight, resumed)]
    assert [step for step, _ in curves[1]] == [3, 6]
    for (_, a), (_, b) in zip(*curves):
        assert b == pytest.approx(a, abs=0.01)


def test_restored_optimizer_state_keeps_the_layout_of_a_channels_last_network(tmp_path):
    """Fused CUDA Adam needs each moment to have its parameter's strides; the GPU trainer's networks are
    channels_last while a checkpoint holds contiguous tensors."""
    def network_and_adam():
        network = torch.nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last)
        return network, torch.optim.Adam(network.parameters(), 1e-3)

    network, adam = network_and_adam()
    network(torch.randn(2, 3, 8, 8)).square().mean().backward()
    adam.step()
    save_checkpoint(tmp_path, 1, {"g": network}, {"opt_g": adam})
    restored_network, restored_adam = network_and_adam()
    load_checkpoint(tmp_path, {"g": restored_network}, {"opt_g": restored_adam})
    for saved, restored in zip(network.parameters(), restored_network.parameters()):
        for key in ("exp_avg", "exp_avg_sq"):
            moment = restored_adam.state[restored][key]
            assert moment.stride() == restored.stride(), key
            torch.testing.assert_close(moment, adam.state[saved][key], rtol=0, atol=0)


@pytest.fixture
def bank(phantom_slice_bank):
    return phantom_slice_bank


def one_step(bank, tmp_path, **overrides):
    config = Pix2PixConfig(steps=1, batch_size=2, g_base_width=8, g_depth=4, g_max_width=16, d_base_width=8,
                           d_layers=2, snapshot_steps=[], **overrides)
    trainer = Pix2PixTrainer(config, bank, tmp_path / str(overrides))
    trainer.train(log=lambda line: None)
    return trainer


def test_log_lines_give_the_speed_and_the_time_left(bank, tmp_path):
    lines = []
    config = Pix2PixConfig(steps=4, batch_size=2, g_base_width=8, g_depth=4, g_max_width=16, d_base_width=8,
                           d_layers=2, snapshot_steps=[], log_every=2)
    Pix2PixTrainer(config, bank, tmp_path).train(log=lines.append)
    assert [line.split()[1] for line in lines] == ["2/4", "4/4"]
    assert re.search(r"[\d.]+ img/s, \d+s left$", lines[0]) and lines[1].endswith("img/s")
    assert [duration(s) for s in (45.2, 200, 3720)] == ["45s", "3m20s", "1h02m"]


def test_a_time_limit_stops_training_at_the_step_reached_and_checkpoints_it(bank, tmp_path):
    # logging every step restarts the speed clock: the limit must still count from the start of training
    config = Pix2PixConfig(steps=10**6, batch_size=2, g_base_width=8, g_depth=4, g_max_width=16, d_base_width=8,
                           d_layers=2, snapshot_steps=[], log_every=1, time_limit_min=0.02)
    trainer = Pix2PixTrainer(config, bank, tmp_path)
    trainer.train(log=lambda line: None)
    assert 1 < trainer.step < 10**6 and config.steps == trainer.step
    assert json.loads((tmp_path / "checkpoint.json").read_text())["step"] == trainer.step


def test_wgan_gp_really_applies_the_gradient_penalty(bank, tmp_path):
    plain = one_step(bank, tmp_path, adversarial="wgan-gp", gradient_penalty_weight=0.0)
    penalised = one_step(bank, tmp_path, adversarial="wgan-gp", gradient_penalty_weight=1000.0)
    assert plain.config.d_norm == "instance"
    differs = [not torch.equal(p, q) for p, q in zip(plain.discriminator.parameters(),
                                                     penalised.discriminator.parameters())]
    assert any(differs)


@pytest.mark.parametrize("kind", ["vanilla", "lsgan", "hinge"])
def test_every_loss_kind_trains(bank, tmp_path, kind):
    trainer = one_step(bank, tmp_path, adversarial=kind)
    assert all(torch.isfinite(p).all() for p in trainer.generator.parameters())


def test_bank_holds_one_hot_conditions_and_unit_range_targets(bank):
    assert bank.sources.shape[1:] == (8, 64, 64) and bank.targets.shape[1:] == (1, 64, 64)
    assert torch.allclose(bank.sources.float().sum(1), torch.ones(1))
    assert bank.targets.min() >= -1 and bank.targets.max() <= 1
    condition, target = bank.sample(4, torch.Generator().manual_seed(0))
    assert condition.shape == (4, 8, 64, 64) and condition.dtype == torch.float32


def test_mmwhs_layout_and_csv_pairs_are_read(tmp_path):
    for number, case in zip((1001, 1002), phantom_cases([3, 4], (48, 48, 6), (6.0, 6.0, 6.0))):
        sitk.WriteImage(volume_to_sitk(case.target), str(tmp_path / f"ct_train_{number}_image.nii.gz"))
        sitk.WriteImage(volume_to_sitk(case.source), str(tmp_path / f"ct_train_{number}_label.nii.gz"))
    cases = mmwhs_cases(tmp_path)
    assert [c.case_id for c in cases] == ["ct_train_1001", "ct_train_1002"]
    assert cases[0].body.any() and 500 in cases[0].source.array and cases[0].target.array.dtype == np.float32
    (tmp_path / "pairs.csv").write_text("id,image,label\nA,ct_train_1001_image.nii.gz,ct_train_1001_label.nii.gz\n")
    assert [c.case_id for c in csv_cases(tmp_path / "pairs.csv", "label", "image", True)] == ["A"]


def test_dataset_split_keeps_patients_on_one_side():
    cases = phantom_cases(list(range(6)), (32, 32, 4), (10.0, 10.0, 10.0))
    parts = split_cases(cases, 2, 1, seed=0)
    assert [len(part) for part in parts] == [3, 1, 2]
    assert sorted(c.case_id for part in parts for c in part) == sorted(c.case_id for c in cases)
    assert split_cases(cases, 2, 1, seed=0) == parts and split_cases(cases, 2, 1, seed=1) != parts
    with pytest.raises(GANSynthesisError, match="none to train on with --held-out 4 and --validation 2"):
        split_cases(cases, 4, 2, seed=0)


def test_validation_error_is_the_generators_hu_error_away_from_air(bank, tmp_path):
    trainer = Pix2PixTrainer(Pix2PixConfig(g_base_width=8, g_depth=4, g_max_width=16, snapshot_steps=[]), bank,
                             tmp_path)
    window = (-1024.0, 2000.0)
    score = validation_error(bank, window, batch_size=4)(trainer)
    assert trainer.generator.training  # scored in eval mode, then back to training
    with torch.no_grad():
        trainer.generator.eval()
        output = trainer.generator(bank.sources.float()).numpy()
    target_hu = (bank.targets.float().numpy() + 1) * 1512 - 1024
    inside = target_hu > -900
    expected = np.abs((output + 1) * 1512 - 1024 - target_hu)[inside].mean()
    assert 0 < inside.mean() < 1
    assert score == {"mae_hu": pytest.approx(expected, rel=1e-4)}


@pytest.mark.parametrize("adversarial", ["lsgan", "wgan-gp"])
def test_accumulated_micro_batches_make_the_same_update_as_one_batch(bank, tmp_path, adversarial):
    """Per-sample networks (instance norm, no dropout): 2 micro-batches of 2 = 1 batch of 4."""
    def run(parts):
        config = Pix2PixConfig(steps=1, batch_size=4, generator="resnet", g_base_width=4, g_blocks=1, g_norm="instance",
                               d_base_width=4, d_layers=2, d_norm="instance", adversarial=adversarial,
                               accumulation_steps=parts, snapshot_steps=[], seed=3)
        trainer = Pix2PixTrainer(config, bank, tmp_path / f"{adversarial}-{parts}")
        losses = trainer.train_step(trainer.sample())
        return trainer, losses

    whole, whole_losses = run(1)
    split, split_losses = run(2)
    torch.testing.assert_close(split_losses, whole_losses, rtol=1e-4, atol=1e-5)
    for name in ("generator", "discriminator"):  # the gradients of the step are still on the weights
        a = torch.cat([p.grad.flatten() for p in getattr(whole, name).parameters()])
        b = torch.cat([p.grad.flatten() for p in getattr(split, name).parameters()])
        torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-5 * float(a.abs().max()), msg=name)
    with pytest.raises(ValueError, match="divide"):
        Pix2PixTrainer(Pix2PixConfig(batch_size=4, accumulation_steps=3, snapshot_steps=[]), bank,
                       tmp_path / "bad").micro_batches((torch.zeros(4, 1),))



def test_cyclegan_micro_batches_make_the_same_update_as_one_batch(bank, tmp_path):
    """Both generators and both discriminators get the gradients of the whole batch, image pools swapping."""
    domain_a, domain_b = bank.sources[:, 1:2].float() * 2 - 1, bank.targets.float()

    def run(parts):
        config = CycleGANConfig(steps=1, batch_size=4, g_base_width=4, g_blocks=1, d_base_width=4, d_layers=2,
                                pool_size=4, accumulation_steps=parts, snapshot_steps=[], seed=5)
        trainer = CycleGANTrainer(config, domain_a, domain_b, tmp_path / str(parts))
        history = torch.Generator().manual_seed(0)
        for pool, domain in ((trainer.pool_a, domain_a), (trainer.pool_b, domain_b)):
            pool.query(domain[-4:], history)  # full pools: this step's fakes are swapped for stored ones
        return trainer, trainer.train_step(trainer.sample())

    whole, whole_losses = run(1)
    split, split_losses = run(2)
    torch.testing.assert_close(split_losses, whole_losses, rtol=1e-4, atol=1e-5)
    for name in whole.networks:
        a = torch.cat([p.grad.flatten() for p in whole.networks[name].parameters()])
        b = torch.cat([p.grad.flatten() for p in split.networks[name].parameters()])
        torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-5 * float(a.abs().max()), msg=name)

WITHOUT_SIMPLEITK = """
import sys
class NoSimpleITK:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "SimpleITK":
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, NoSimpleITK())
"""


def test_phantom_training_and_the_training_benchmark_need_no_simpleitk(tmp_path):
    """Stock PyTorch GPU images ship without SimpleITK: phantom runs and the benchmarks must not import it."""
    (tmp_path / "sitecustomize.py").write_text(WITHOUT_SIMPLEITK)
    env = os.environ | {"PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "2"}
    blocked = subprocess.run([sys.executable, "-c", "import SimpleITK"], env=env, capture_output=True, text=True)
    assert "No module named 'SimpleITK'" in blocked.stderr
    run = tmp_path / "run"
    training = subprocess.run([sys.executable, "-m", "GANSynthesisTraining", "synthesis", *TINY, "--steps", "2",
                               "--snapshot-steps", "--run-dir", run, "--export", tmp_path / "bundle"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert training.returncode == 0, training.stderr[-3000:]
    assert load_bundle(tmp_path / "bundle").manifest.name == "mmwhs-ct-phantom"
    benchmark = subprocess.run([sys.executable, "benchmarks/training_benchmark.py", "--canvas", "64", "--cases", "1",
                                "--batch-size", "2", "--steps", "1", "--g-depth", "4", "--g-base-width", "8",
                                "--g-max-width", "16", "--d-base-width", "8"],
                               cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert benchmark.returncode == 0, benchmark.stderr[-3000:]
    assert "speed-up over the reference loop" in benchmark.stdout
