"""Importing a model folder: hashes are checked and duplicates refused."""

import shutil

import pytest

from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.models.registry import import_model_folder


def test_import_checks_hashes_and_refuses_duplicates(tiny_bundle_dir, tmp_path):
    imported = import_model_folder(tiny_bundle_dir, tmp_path / "models")
    assert imported.path == tmp_path / "models" / "tiny-synth" and imported.name == "tiny-synth"
    with pytest.raises(GANSynthesisError, match="already installed"):
        import_model_folder(tiny_bundle_dir, tmp_path / "models")
    broken = shutil.copytree(tiny_bundle_dir, tmp_path / "broken")
    (broken / "generator.safetensors").write_bytes(b"garbage")
    with pytest.raises(GANSynthesisError, match="SHA-256"):
        import_model_folder(broken, tmp_path / "other")
    assert not (tmp_path / "other").exists()
