"""A new task is one module and one registration: this file is the module (a task that inverts intensities around
an offset), the fixture registers it, and the command line, batch, the model listing and the Slicer module's task
list offer it without any other change."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import pytest
import torch

import slicer_runtime
from GANSynthesisLib.cli import build_parser, main
from GANSynthesisLib.core.volume import Volume
from GANSynthesisLib.files.image_files import read_metadata, read_volume, write_volume
from GANSynthesisLib.models.bundle import save_bundle
from GANSynthesisLib.models.manifest import Grid, InputSpec, Manifest, OutputSpec
from GANSynthesisLib.models.networks import UNetGenerator, network_spec
from GANSynthesisLib.models.registry import USER_MODELS_ENV
from GANSynthesisLib.tasks.catalogue import TASKS, register_task
from GANSynthesisLib.tasks.spec import TaskResult, TaskSpec


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--offset", type=float, default=0.0, help="added after inverting")


def run(volume: Volume, bundle, inputs: dict, options) -> TaskResult:
    return TaskResult(volume.with_array(inputs["offset"] - volume.array.astype(np.float32)), ["inverted on purpose"])


INVERT = TaskSpec(
    name="invert", title="Invert intensities (test task)", command_help="volume → its negative plus an offset",
    input_kind="scalar", output_display="ct", run=run, add_options=add_options,
    inputs_from_options=lambda args, bundle: {"offset": args.offset},
    summary_lines=lambda result: [f"mean {float(result.volume.array.mean()):.1f}"],
    batch_row=lambda result, output: {"mean": round(float(result.volume.array.mean()), 3), "output": output.name},
    card_lines=lambda manifest: [f"Held-out: inverts exactly ({manifest.metrics['cases']} cases)"])


@pytest.fixture
def invert_task(tmp_path, monkeypatch):
    """The task registered, with one bundle of its own in the user's model folder."""
    register_task(INVERT)
    network = UNetGenerator(1, 1, base_width=4, depth=2, max_width=4)
    manifest = Manifest(name="invert-model", version="1", task="invert", architecture={"generator": network_spec(network)},
                        input=InputSpec(kind="image", modality="CT"), output=OutputSpec(modality="inverted CT"),
                        grid=Grid((3.0, 3.0)), default=True, metrics={"cases": 3})
    save_bundle(tmp_path / "models" / "invert-model", manifest, {"generator": network.state_dict()}, torch.float32)
    monkeypatch.setenv(USER_MODELS_ENV, str(tmp_path / "models"))
    yield INVERT
    del TASKS[INVERT.name]


def volume_file(path: Path, value: float) -> Path:
    array = np.full((4, 8, 8), value, np.float32)
    array[2, 3:5, 3:5] = 2 * value
    return write_volume(Volume(array, (2.0, 2.0, 3.0)), path)


def test_the_command_line_runs_the_new_task_with_its_option(invert_task, tmp_path, capsys):
    assert "invert" in build_parser().format_help()
    source = volume_file(tmp_path / "in.nii.gz", 10.0)
    assert main(["invert", "-i", str(source), "-o", str(tmp_path / "out.nrrd"), "--offset", "5", "-q"]) == 0
    out = capsys.readouterr().out
    assert "model: invert-model, the default invert model" in out and "mean -5.2" in out
    written = read_volume(tmp_path / "out.nrrd")
    np.testing.assert_allclose(written.array, 5.0 - read_volume(source).array)
    metadata = read_metadata(tmp_path / "out.nrrd")
    assert metadata["GANSynthesis.Synthetic"] == "true" and metadata["GANSynthesis.Task"] == "invert"
    assert metadata["GANSynthesis.Warnings"] == "inverted on purpose"


def test_batch_and_the_model_listing_offer_the_new_task(invert_task, tmp_path, capsys):
    cases = tmp_path / "cases"
    cases.mkdir()
    for number in (1, 2):
        volume_file(cases / f"case{number}.nii.gz", float(number))
    assert main(["batch", "invert", "--input-dir", str(cases), "--output-dir", str(tmp_path / "out"),
                 "--offset", "1"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "out" / "summary.csv")))
    assert [row["case"] for row in rows] == ["case1", "case2"]
    assert [row["output"] for row in rows] == ["case1_synthetic_inverted_ct.nii.gz", "case2_synthetic_inverted_ct.nii.gz"]
    assert float(rows[1]["mean"]) == round(1 - 2 * (1 + 4 / 256), 3)
    capsys.readouterr()
    assert main(["models", "--task", "invert"]) == 0
    listing = capsys.readouterr().out
    assert "invert-model  [invert]  v1  (default)" in listing and "Held-out: inverts exactly (3 cases)" in listing


def test_the_slicer_module_lists_the_new_task(invert_task):
    if not slicer_runtime.available():
        pytest.skip(slicer_runtime.UNAVAILABLE_REASON)
    slicer_runtime.install()
    scene = slicer_runtime.new_scene()
    panel = slicer_runtime.build_panel(slicer_runtime.load_module(), scene)
    try:
        titles = [panel.ui.taskComboBox.itemText(i) for i in range(panel.ui.taskComboBox.count)]
        assert titles[-1] == "Invert intensities (test task)" and len(titles) == len(TASKS)
    finally:
        panel.cleanup()
