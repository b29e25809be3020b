import shutil

import pytest

from GANSynthesisLib.anatomy.label_mapping import canonical_label_name, parse_label_mapping, resolve_label_mapping
from GANSynthesisLib.anatomy.mmwhs_structures import MMWHS_LABELS
from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.models.bundle import load_bundle
from GANSynthesisLib.models.registry import import_model_folder
from GANSynthesisLib.slicer.dependencies import PROTECTED, pip_requirements
from GANSynthesisLib.tasks.model_cards import model_card_html


@pytest.mark.parametrize("name, label", [
    ("LV", "left ventricle"), ("left ventricle", "left ventricle"), ("Left Ventricle", "left ventricle"),
    ("Left_Ventricle", "left ventricle"), ("LeftVentricle", "left ventricle"), ("heart_ventricle_left", "left ventricle"),
    ("myocardium of left ventricle", "myocardium"), ("Myo", "myocardium"), ("RA", "right atrium"),
    ("Pulmonary Trunk", "pulmonary artery"), ("aorta", "ascending aorta"), ("liver", None), ("L V", None),
])
def test_segment_names_match_model_labels(name, label):
    assert canonical_label_name(name, MMWHS_LABELS) == label


def test_label_mapping_text_is_parsed_and_resolved():
    assert resolve_label_mapping(parse_label_mapping("LV=1, myo = 2"), MMWHS_LABELS) == {1: 500, 2: 205}
    with pytest.raises(GANSynthesisError, match="name=value"):
        parse_label_mapping("LV")
    with pytest.raises(GANSynthesisError, match="not an integer"):
        parse_label_mapping("LV=one")
    with pytest.raises(GANSynthesisError, match="matches none"):
        resolve_label_mapping({"spleen": 3}, MMWHS_LABELS)


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


def test_model_card_says_what_it_is_for(tiny_bundle_dir):
    card = model_card_html(load_bundle(tiny_bundle_dir))
    assert "Intended use: research, not for diagnosis" in card and "left ventricle" in card


def test_pip_requirements_pin_slicers_own_packages():
    requirements = pip_requirements(["safetensors"])
    assert requirements[0].startswith("safetensors")
    assert any(r.startswith("numpy==") for r in requirements) and all(
        "==" in r for r in requirements[1:]) and len(requirements) <= 1 + len(PROTECTED)
    assert pip_requirements([]) == []
