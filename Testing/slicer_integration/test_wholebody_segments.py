"""Whole-body synthesis in the MRML scene: TotalSegmentator segments matched to model classes, warnings on
the output node."""

import numpy as np
import pytest

from GANSynthesisLib.anatomy.wholebody_classes import CLASS_INDEX, MODEL_VALUE_BASE
from GANSynthesisLib.tasks.synthesis.wholebody import label_classes

from support import ts_labelmap


def test_segmentation_node_of_totalsegmentator_segments_fills_the_table(wholebody_bundle):
    pytest.importorskip("slicer")
    from mrml_scene import add_segmentation, add_volume_node, new_scene

    from GANSynthesisLib.slicer.mrml import labelmap_from_segmentation, match_segments

    scene = new_scene()
    volume = ts_labelmap()
    reference = add_volume_node(scene, volume.with_array(np.zeros(volume.array.shape, np.float32)), "CT")
    names = {10: "lung_upper_lobe_left", 12: "lung_upper_lobe_right", 51: "heart", 52: "aorta", 32: "vertebrae_T12",
             94: "rib_left_3"}
    segmentation = add_segmentation(scene, volume, names, reference, "TotalSegmentator")
    labels = wholebody_bundle.manifest.input.labels
    matches = {m.segment_name: m.model_label for m in match_segments(segmentation, labels)}
    assert matches == {"lung_upper_lobe_left": "lung", "lung_upper_lobe_right": "lung", "heart": "heart",
                       "aorta": "artery", "vertebrae_T12": "bone", "rib_left_3": "bone"}
    exported, _ = labelmap_from_segmentation(segmentation, labels, reference)
    values = set(np.unique(exported.array).tolist())
    assert values == {0} | {MODEL_VALUE_BASE + CLASS_INDEX[c] for c in ("lung", "heart", "artery", "bone")}
    classes, numbering = label_classes(exported)
    assert numbering == "wholebody" and classes[0, 14, 24] == CLASS_INDEX["artery"]


def test_warnings_reach_the_output_node(wholebody_bundle):
    pytest.importorskip("slicer")
    from mrml_scene import add_segmentation, add_volume_node, new_scene

    from GANSynthesisLib.slicer import api

    scene = new_scene()
    volume = ts_labelmap()
    reference = add_volume_node(scene, volume.with_array(np.zeros(volume.array.shape, np.float32)), "CT")
    segmentation = add_segmentation(scene, volume, {10: "lung_upper_lobe_left", 12: "lung_upper_lobe_right",
                                                    51: "heart", 52: "aorta", 32: "vertebrae_T12", 94: "rib_left_3"},
                                     reference, "TotalSegmentator")
    node = api.synthesize_ct(segmentation, reference, model=wholebody_bundle, device="cpu")
    warnings = node.GetAttribute("GANSynthesis.Warnings")
    assert "no body outline given" in warnings and "no lung" not in warnings
