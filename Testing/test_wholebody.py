"""Whole-body synthesis path: TotalSegmentator label maps, --labels, warnings, 2.5-D context, MRML segment matching."""

import numpy as np
import pytest

from GANSynthesisLib.anatomy.label_mapping import parse_label_mapping, resolve_label_mapping
from GANSynthesisLib.anatomy.wholebody_classes import CLASS_INDEX, MODEL_VALUE_BASE, wholebody_labels
from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.core.volume import Volume
from GANSynthesisLib.engine.inference import InferenceOptions
from GANSynthesisLib.models.bundle import load_bundle
from GANSynthesisLib.tasks.catalogue import get_task
from GANSynthesisLib.tasks.synthesis.wholebody import label_classes


@pytest.fixture(scope="module")
def wholebody_bundle(tiny_wholebody_bundle_dir):
    return load_bundle(tiny_wholebody_bundle_dir)


def ts_labelmap(with_body: bool = False) -> Volume:
    """A small label map in TotalSegmentator 'total' numbering: heart 51, aorta 52, lobes 10/12, T12 32, rib 94."""
    shape = (6, 40, 48)
    labels = np.zeros(shape, np.uint8)
    if with_body:
        labels[:, 4:36, 4:44] = 0  # body is not a 'total' class; see the --labels test
    labels[:, 10:20, 8:20] = 10
    labels[:, 10:20, 28:40] = 12
    labels[:, 18:26, 20:28] = 51
    labels[:, 12:16, 22:26] = 52
    labels[:, 30:34, 22:26] = 32
    labels[:, 8:10, 6:12] = 94
    return Volume(labels, spacing=(3.0, 3.0, 3.0), origin=(0.0, 0.0, 0.0), direction=np.eye(3))


def test_totalsegmentator_map_runs_without_labels_and_warns_about_body(wholebody_bundle):
    result = get_task("synthesize").run(ts_labelmap(), wholebody_bundle, {}, InferenceOptions(device="cpu"))
    assert result.volume.array.shape == (6, 40, 48) and result.volume.array.dtype == np.float32
    assert np.isfinite(result.volume.array).all()
    assert any("no body outline given" in w for w in result.warnings)
    assert not any("no lung" in w or "no bone" in w for w in result.warnings)


def test_labels_option_with_coarse_names(wholebody_bundle):
    labels = np.zeros((4, 32, 32), np.uint8)
    labels[:, 2:30, 2:30] = 12
    labels[:, 6:14, 6:14] = 10
    labels[:, 16:22, 10:20] = 1
    labels[:, 26:29, 14:18] = 11
    volume = Volume(labels, spacing=(2.0, 2.0, 3.0), origin=(0.0, 0.0, 0.0), direction=np.eye(3))
    mapping = resolve_label_mapping(parse_label_mapping("heart=1,lung=10,bone=11,body=12"), wholebody_labels())
    classes, numbering = label_classes(volume, mapping)
    assert numbering == "wholebody"
    assert classes[0, 20, 15] == CLASS_INDEX["heart"] and classes[0, 3, 3] == CLASS_INDEX["body"]
    result = get_task("synthesize").run(volume, wholebody_bundle, {"label_mapping": mapping},
                                        InferenceOptions(device="cpu"))
    assert result.warnings == ["no fat given: the model drew fat and muscle layers itself"]


def test_unknown_numbering_is_refused(wholebody_bundle):
    volume = Volume(np.full((2, 8, 8), 4000, np.uint16), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0),
                    direction=np.eye(3))
    with pytest.raises(GANSynthesisError, match="--labels"):
        get_task("synthesize").run(volume, wholebody_bundle, {}, InferenceOptions(device="cpu"))


def test_neighbouring_slices_reach_the_network(wholebody_bundle):
    """2.5-D: changing only slice 3 changes the synthetic slices 2 and 4 too, and nothing further away."""
    base = ts_labelmap()
    changed = base.array.copy()
    changed[3, 10:30, 10:30] = 52
    run = get_task("synthesize").run
    a = run(base, wholebody_bundle, {}, InferenceOptions(device="cpu")).volume.array
    b = run(base.with_array(changed), wholebody_bundle, {}, InferenceOptions(device="cpu")).volume.array
    differs = [not np.allclose(a[k], b[k]) for k in range(a.shape[0])]
    assert differs == [False, False, True, True, True, False]


def test_mmwhs_model_warns_that_it_invents_the_body(tiny_bundle_dir):
    from support import hand_drawn_heart

    result = get_task("synthesize").run(hand_drawn_heart(size=(40, 36, 6)), load_bundle(tiny_bundle_dir), {},
                                        InferenceOptions(device="cpu"))
    assert any("body outline" in w for w in result.warnings)


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


def test_library_synthesize_takes_the_whole_body_path(wholebody_bundle):
    from GANSynthesisLib.tasks.synthesis.labels_to_ct import synthesize

    out = synthesize(ts_labelmap(), wholebody_bundle, options=InferenceOptions(device="cpu"))
    assert out.array.shape == (6, 40, 48) and np.isfinite(out.array).all()


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
