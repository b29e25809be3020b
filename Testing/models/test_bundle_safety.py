"""Bundle files read safely: a torch zip checkpoint is refused without unpickling, safetensors headers are
read exactly."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct

import pytest

from GANSynthesisLib.core.errors import GANSynthesisError


def test_torch_zip_checkpoint_is_refused_without_unpickling(tiny_bundle_dir, tmp_path):
    import torch

    from GANSynthesisLib.models.bundle import load_bundle

    folder = shutil.copytree(tiny_bundle_dir, tmp_path / "zipped")
    weights = folder / "generator.safetensors"
    torch.save({"boom": torch.zeros(1)}, weights)
    manifest = json.loads((folder / "model.json").read_text())
    manifest["weights"]["generator"]["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    (folder / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(GANSynthesisError, match="never unpickles"):
        load_bundle(folder)


def test_safetensors_header_is_read_exactly(tmp_path):
    from GANSynthesisLib.models.bundle_checks import safetensors_shapes

    file = tmp_path / "w.safetensors"
    file.write_bytes(struct.pack("<Q", 10 ** 9) + b"{}")
    with pytest.raises(GANSynthesisError, match="not a valid safetensors"):
        safetensors_shapes(file)
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode().ljust(0x80)
    file.write_bytes(struct.pack("<Q", len(header)) + header + bytes(8))  # starts with 0x80, like a pickle
    assert safetensors_shapes(file) == {"w": (2,)}
