"""Whole-body synthesis path: TotalSegmentator label maps, --labels, warnings, 2.5-D context."""

import numpy as np
import pytest

from GANSynthesisLib.anatomy.label_mapping import parse_label_mapping, resolve_label_mapping
from GANSynthesisLib.anatomy.wholebody_classes import CLASS_INDEX, wholebody_labels
from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.core.volume import Volume
from GANSynthesisLib.engine.inference import InferenceOptions
from GANSynthesisLib.models.bundle import load_bundle
from GANSynthesisLib.tasks.catalogue import get_task
from GANSynthesisLib.tasks.synthesis.wholebody import label_classes

from support import ts_labelmap


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
    as_drawn = {"contrast_hu": None}  # the network's own output (a contrast level moves a whole class)
    a = run(base, wholebody_bundle, as_drawn, InferenceOptions(device="cpu")).volume.array
    b = run(base.with_array(changed), wholebody_bundle, as_drawn, InferenceOptions(device="cpu")).volume.array
    differs = [not np.allclose(a[k], b[k]) for k in range(a.shape[0])]
    assert differs == [False, False, True, True, True, False]


def test_mmwhs_model_warns_that_it_invents_the_body(tiny_bundle_dir):
    from support import hand_drawn_heart

    result = get_task("synthesize").run(hand_drawn_heart(size=(40, 36, 6)), load_bundle(tiny_bundle_dir), {},
                                        InferenceOptions(device="cpu"))
    assert any("body outline" in w for w in result.warnings)


def test_library_synthesize_takes_the_whole_body_path(wholebody_bundle):
    from GANSynthesisLib.tasks.synthesis.labels_to_ct import synthesize

    out = synthesize(ts_labelmap(), wholebody_bundle, options=InferenceOptions(device="cpu"))
    assert out.array.shape == (6, 40, 48) and np.isfinite(out.array).all()
