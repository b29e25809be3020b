"""The typed manifest: every bundled manifest reads and writes back unchanged; a wrong entry is named in the error."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.models.bundle import load_bundle, save_bundle, sha256_of
from GANSynthesisLib.models.manifest import Manifest, Normalisation, WeightFile

BUNDLED = sorted((Path(__file__).resolve().parents[2] / "Resources" / "Models").glob("*/model.json"))


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.parent.name)
def test_every_bundled_manifest_reads_and_writes_back_unchanged(path):
    data = json.loads(path.read_text())
    manifest = Manifest.from_dict(data, path)
    assert manifest.to_dict() == data
    assert manifest.name == path.parent.name and manifest.grid.in_plane_spacing_mm[0] > 0
    assert all(isinstance(entry, WeightFile) for entry in manifest.weights.values())


def test_typed_fields_hold_what_the_library_reads():
    manifest = load_bundle(BUNDLED[0].parent).manifest  # anomaly-ct-phantom
    assert manifest.task == "anomaly" and manifest.anomaly.scoring_method == "inpainting"
    assert manifest.input.normalisation == Normalisation("window", low=-1000.0, high=1000.0)
    assert len(manifest.input.statistics.histogram) == 32 and manifest.anomaly.threshold > 0


def _broken(change) -> dict:
    data = copy.deepcopy(json.loads(BUNDLED[0].read_text()))
    change(data)
    return data


@pytest.mark.parametrize("change, named", [
    (lambda d: d["grid"].pop("in_plane_spacing_mm"), "'grid.in_plane_spacing_mm' is missing"),
    (lambda d: d["grid"].update(in_plane_spacing_mm=[0, 3]), "grid.in_plane_spacing_mm [0, 3] must be two positive"),
    (lambda d: d["input"]["normalisation"].update(type="zscore"), "input.normalisation.type 'zscore' is not one of"),
    (lambda d: d["input"]["normalisation"].update(low=2000), "input.normalisation.low must be below input.normalisation.high"),
    (lambda d: d["anomaly"].pop("threshold"), "'anomaly.threshold' is missing"),
    (lambda d: d["anomaly"].update(smoothing_mm="3 mm"), "'anomaly.smoothing_mm' must be a number"),
    (lambda d: d.update(input={"labels": {"heart": "one"}}), "input labels must map names to integer label values"),
    (lambda d: d.update(default="yes"), "'default' must be true or false"),
    (lambda d: d.pop("license"), "'license' is missing"),
    (lambda d: d.update(output=[]), "'output' must be a JSON object"),
])
def test_a_wrong_entry_is_named(change, named):
    with pytest.raises(GANSynthesisError, match="re-export the bundle") as error:
        Manifest.from_dict(_broken(change), "model.json")
    assert named in str(error.value)


def test_unknown_keys_are_kept_where_they_were():
    data = _broken(lambda d: (d.update(reviewer="Dr X"), d["grid"].update(slab=3)))
    manifest = Manifest.from_dict(data)
    assert manifest.extra["reviewer"] == "Dr X" and manifest.grid.extra == {"slab": 3}
    assert manifest.to_dict() == data


def test_save_bundle_writes_the_typed_manifest_with_its_weights(tiny_bundle_dir, tmp_path):
    original = load_bundle(tiny_bundle_dir)
    state = {"generator": {k: v.float() for k, v in original.load_weights("generator").items()}}
    saved = save_bundle(tmp_path / "copy", replace(original.manifest, name="copy", weights={}), state,
                        dtype=torch.float32)
    assert replace(saved.manifest, weights={}) == replace(original.manifest, name="copy", weights={})
    written = json.loads((tmp_path / "copy" / "model.json").read_text())
    assert written["weights"]["generator"] == {"file": "generator.safetensors", "dtype": "float32",
                                               "sha256": sha256_of(tmp_path / "copy" / "generator.safetensors")}
    assert Manifest.from_dict(written) == saved.manifest
    reloaded = saved.load_weights("generator")
    assert all(torch.equal(reloaded[name], tensor) for name, tensor in state["generator"].items())
