"""The whole-body label set: names, grouping, numbered label maps, invented-region warnings, 2.5-D packing."""

import numpy as np
import pytest
import torch

from GANSynthesisLib.anatomy.label_mapping import parse_label_mapping, resolve_label_mapping
from GANSynthesisLib.anatomy.mmwhs_structures import MMWHS_LABELS
from GANSynthesisLib.anatomy.totalsegmentator_classes import CLASS_MAPS
from GANSynthesisLib.anatomy.wholebody_classes import (CLASS_INDEX, CLASSES, INPUT_CHANNELS, MODEL_VALUE_BASE,
                                                       NUM_CLASSES, NUMBERINGS, TOTALSEGMENTATOR_TOTAL, class_of_name,
                                                       classes_from_masks, flags_of, given_classes, invented_regions,
                                                       pack_codes, recognise_numbering, to_classes, unpack_codes,
                                                       wholebody_labels)


@pytest.mark.parametrize("name, cls", [
    ("rib_left_3", "bone"), ("vertebrae_T12", "bone"), ("sternum", "bone"), ("costal_cartilages", "bone"),
    ("sacrum", "bone"), ("clavicula_left", "bone"), ("lung_upper_lobe_left", "lung"),
    ("lung_middle_lobe_right", "lung"), ("Lung", "lung"), ("heart", "heart"), ("aorta", "artery"),
    ("pulmonary_artery", "artery"), ("brachiocephalic_trunk", "artery"), ("common_carotid_artery_left", "artery"),
    ("subclavian_artery_left", "artery"), ("celiac_trunk", "artery"), ("superior_mesenteric_artery", "artery"),
    ("superior_vena_cava", "vein"), ("iliac_vena_left", "vein"), ("liver", "solid organ"),
    ("kidney_cyst_left", "solid organ"), ("small_bowel", "hollow organ"), ("trachea", "airway"),
    ("spinal_cord", "spinal canal"), ("autochthon_left", "soft tissue"), ("body", "body"), ("Body outline", "body"),
    ("body_trunc", "body"), ("subcutaneous_fat", "fat"), ("fat", "fat"), ("soft tissue", "soft tissue"),
    ("skeletal_muscle", "soft tissue"), ("heart_myocardium", "myocardium"), ("heart_atrium_left", "cardiac blood pool"),
    ("heart_ventricle_right", "cardiac blood pool"), ("left ventricle", "cardiac blood pool"),
    ("myocardium", "myocardium"), ("ascending aorta", "artery"), ("Vessels", "artery"), ("contrast", "artery"),
    # terminology names SlicerTotalSegmentator can give its segments
    ("Third rib left", "bone"), ("T12 vertebra", "bone"), ("Upper lobe of lung left", "lung"),
    ("Middle lobe of right lung", "lung"), ("Brachiocephalic artery", "artery"), ("Common carotid artery left", "artery"),
    ("Deep muscle of back", "soft tissue"), ("Subcutaneous fatty tissue", "fat"), ("Left ventricle of heart",
    "cardiac blood pool"), ("Superior vena cava", "vein"), ("Small Intestine", "hollow organ"), ("Kidney left",
    "solid organ"), ("Trachea and bronchus", "airway"), ("Spinal cord", "spinal canal"), ("Heart", "heart"),
    ("Pulmonary artery", "artery"), ("Entire atrial appendage left", "cardiac blood pool"), ("Clavicle", "bone"),
])
def test_names_group_into_classes(name, cls):
    assert class_of_name(name) == cls


def test_every_totalsegmentator_total_and_heartchambers_name_has_a_class():
    for task in ("total", "heartchambers_highres", "body", "tissue_types", "lung_vessels"):
        missing = [name for name in CLASS_MAPS[task].values() if class_of_name(name) is None]
        assert not missing, (task, missing)
    assert len(TOTALSEGMENTATOR_TOTAL) == 117
    assert CLASS_MAPS["total"][51] == "heart" and CLASS_MAPS["total"][52] == "aorta"
    assert CLASS_MAPS["total"][5] == "liver" and CLASS_MAPS["total"][79] == "spinal_cord"


def test_unknown_names_are_none():
    assert class_of_name("banana") is None
    assert class_of_name("") is None


def test_labels_option_maps_fine_and_coarse_names_to_model_values():
    model = wholebody_labels()
    mapping = resolve_label_mapping(parse_label_mapping(
        "heart=1,lung=10,bone=11,body=12,rib_left_3=13,vertebrae_T12=14,lung_upper_lobe_left=15,aorta=16"), model)
    v = {name: MODEL_VALUE_BASE + CLASS_INDEX[name] for name in CLASSES[1:]}
    assert mapping == {1: v["heart"], 10: v["lung"], 11: v["bone"], 12: v["body"], 13: v["bone"], 14: v["bone"],
                       15: v["lung"], 16: v["artery"]}


def test_mmwhs_model_names_are_unchanged():
    # the grouping fallback must not leak into models with another label set
    assert resolve_label_mapping({"myocardium": 1}, MMWHS_LABELS) == {1: 205}
    from GANSynthesisLib.core.errors import GANSynthesisError
    with pytest.raises(GANSynthesisError):
        resolve_label_mapping({"rib_left_3": 1}, MMWHS_LABELS)


def test_numberings_are_recognised():
    assert recognise_numbering([0, 205, 500, 850]) == "mmwhs"
    assert recognise_numbering([5, 51, 52, 10, 32]) == "totalsegmentator-total"
    assert recognise_numbering([MODEL_VALUE_BASE + 1, MODEL_VALUE_BASE + 6]) == "wholebody"
    assert recognise_numbering([5000]) is None
    assert recognise_numbering([0]) is None


def test_totalsegmentator_label_map_to_classes():
    labels = np.array([[0, 5, 51, 52], [10, 32, 92, 116]], np.uint8)
    classes = to_classes(labels, NUMBERINGS["totalsegmentator-total"])
    names = [[CLASSES[c] for c in row] for row in classes]
    assert names == [["background", "solid organ", "heart", "artery"], ["lung", "bone", "bone", "bone"]]


def test_mmwhs_values_refine_heart():
    labels = np.array([205, 420, 500, 550, 600, 820, 850])
    classes = [CLASSES[c] for c in to_classes(labels, NUMBERINGS["mmwhs"])]
    assert classes == ["myocardium"] + ["cardiac blood pool"] * 4 + ["artery"] * 2


def test_overlapping_masks_fine_over_coarse():
    shape = (1, 4, 4)
    body = np.ones(shape, bool)
    heart = np.zeros(shape, bool); heart[0, 1:3, 1:3] = True
    lv = np.zeros(shape, bool); lv[0, 1, 1] = True
    classes = classes_from_masks({"heart_ventricle_left": lv, "body": body, "heart": heart}, shape)
    assert classes[0, 1, 1] == CLASS_INDEX["cardiac blood pool"]
    assert classes[0, 2, 2] == CLASS_INDEX["heart"]
    assert classes[0, 0, 0] == CLASS_INDEX["body"]
    with pytest.raises(ValueError):
        classes_from_masks({"banana": body}, shape)


def test_invented_regions_are_reported():
    assert invented_regions(given_classes(np.array([CLASS_INDEX["heart"], CLASS_INDEX["artery"]]))) == [
        "no body outline given: the model drew the body outline itself",
        "no lung given: the model drew the lungs itself",
        "no bone given: the model drew the skeleton itself",
        "no fat given: the model drew fat and muscle layers itself"]
    everything = {"body", "lung", "bone", "fat", "myocardium"}
    assert invented_regions(everything) == []
    assert invented_regions({"fat", "lung", "bone", "heart"}) == []  # the subcutaneous fat gives the outline


def test_packing_round_trip():
    rng = np.random.default_rng(0)
    classes = rng.integers(0, NUM_CLASSES, (5, 6, 7)).astype(np.uint8)
    flags = flags_of(given_classes(classes))
    codes = pack_codes(classes, flags)
    assert codes.dtype == np.int32 and codes.max() < 2**31
    x = unpack_codes(torch.from_numpy(codes))
    assert x.shape == (5, INPUT_CHANNELS, 6, 7)
    onehot = lambda c: torch.nn.functional.one_hot(torch.from_numpy(c.astype(np.int64)), NUM_CLASSES).permute(0, 3, 1, 2).float()
    below = np.concatenate([classes[:1], classes[:-1]])
    above = np.concatenate([classes[1:], classes[-1:]])
    assert torch.equal(x[:, :NUM_CLASSES], onehot(below))
    assert torch.equal(x[:, NUM_CLASSES:2 * NUM_CLASSES], onehot(classes))
    assert torch.equal(x[:, 2 * NUM_CLASSES:3 * NUM_CLASSES], onehot(above))
    present = [CLASS_INDEX[n] for n in given_classes(classes)]
    assert torch.equal(x[0, 3 * NUM_CLASSES:, 0, 0], torch.tensor([float(c in present) for c in range(1, NUM_CLASSES)]))
