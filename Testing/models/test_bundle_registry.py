import json
import shutil

import pytest
import torch

from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.models.bundle import load_bundle, sha256_of
from GANSynthesisLib.models.bundled_networks import load_network
from GANSynthesisLib.models.registry import BUNDLED_MODELS_DIR, USER_MODELS_ENV, find_model, list_models


def test_bundle_round_trip_gives_the_same_network(tiny_bundle_dir):
    bundle = load_bundle(tiny_bundle_dir)
    manifest = json.loads((tiny_bundle_dir / "model.json").read_text())
    assert manifest["weights"]["generator"]["sha256"] == sha256_of(tiny_bundle_dir / "generator.safetensors")
    assert manifest["intended_use"] == "research, not for diagnosis"
    a, b = load_network(bundle), load_network(bundle)
    x = torch.randn(1, 8, 32, 32)
    assert torch.equal(a(x), b(x))


def test_tampered_weights_are_refused(tiny_bundle_dir, tmp_path):
    copy = shutil.copytree(tiny_bundle_dir, tmp_path / "tampered")
    weights = copy / "generator.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(GANSynthesisError, match="does not match its SHA-256"):
        load_network(load_bundle(copy))


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".ckpt"])
def test_pickle_checkpoints_are_refused(tiny_bundle_dir, tmp_path, suffix):
    checkpoint = tmp_path / f"model{suffix}"
    checkpoint.write_bytes(b"not loaded")
    with pytest.raises(GANSynthesisError, match="pickle"):
        load_bundle(checkpoint)
    copy = shutil.copytree(tiny_bundle_dir, tmp_path / "pickled")
    manifest = json.loads((copy / "model.json").read_text())
    manifest["weights"]["generator"]["file"] = f"generator{suffix}"
    (copy / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(GANSynthesisError, match="never unpickles"):
        load_bundle(copy)


def test_folder_without_manifest_is_not_a_bundle(tmp_path):
    with pytest.raises(GANSynthesisError, match="no model.json"):
        load_bundle(tmp_path)


def test_manifest_without_required_entries_is_refused(tiny_bundle_dir, tmp_path):
    copy = shutil.copytree(tiny_bundle_dir, tmp_path / "incomplete")
    manifest = json.loads((copy / "model.json").read_text())
    del manifest["license"]
    (copy / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(GANSynthesisError, match="license"):
        load_bundle(copy)


def test_registry_lists_bundled_and_user_models(tiny_bundle_dir, monkeypatch):
    monkeypatch.setenv(USER_MODELS_ENV, str(tiny_bundle_dir.parent))
    names = [m.name for m in list_models("synthesize")]
    assert "tiny-synth" in names
    bundled = [m for m in list_models("synthesize") if m.path.parent == BUNDLED_MODELS_DIR]
    assert bundled, "the default synthesis model must ship in Resources/Models"
    assert find_model(None, "synthesize").manifest.default is True
    assert find_model("tiny-synth", "synthesize").path == tiny_bundle_dir
    assert find_model(str(tiny_bundle_dir), "synthesize").name == "tiny-synth"
    with pytest.raises(GANSynthesisError, match="No synthesize model named"):
        find_model("nonexistent", "synthesize")
    with pytest.raises(GANSynthesisError, match="not a anomaly model|is a synthesize model"):
        find_model(str(tiny_bundle_dir), "anomaly")


def test_bundled_models_are_small_safetensors_with_valid_hashes():
    for bundle in list_models():
        if bundle.path.parent != BUNDLED_MODELS_DIR:
            continue
        for part, entry in bundle.manifest.weights.items():
            path = bundle.path / entry.file
            assert path.suffix == ".safetensors" and path.stat().st_size < 25 * 2**20
            load_network(bundle, part)
        for key in ("metrics", "training", "intended_use", "license", "grid", "input", "output"):
            assert key in bundle.manifest.to_dict()
