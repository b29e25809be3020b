"""Label mapping: segment names and user label text resolved to a model's labels."""

import pytest

from GANSynthesisLib.anatomy.label_mapping import canonical_label_name, parse_label_mapping, resolve_label_mapping
from GANSynthesisLib.anatomy.mmwhs_structures import MMWHS_LABELS
from GANSynthesisLib.core.errors import GANSynthesisError


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
