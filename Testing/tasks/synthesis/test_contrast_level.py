"""The contrast phase of synthetic CTs: the blood in arteries and heart chambers set to the level asked for, the
network's texture and everything else kept."""

import numpy as np
import pytest
from scipy import ndimage

from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.engine.inference import InferenceOptions
from GANSynthesisLib.tasks.catalogue import get_task
from GANSynthesisLib.tasks.synthesis.contrast_phases import PHASES, describe_level, parse_contrast
from GANSynthesisLib.tasks.synthesis.wholebody import synthesize_wholebody

from support import hand_drawn_heart, ts_labelmap

CPU = InferenceOptions(device="cpu")
TS_AORTA = 52  # TotalSegmentator total: aorta (ts_labelmap draws it)


def test_phases_numbers_and_model_are_read_and_anything_else_is_refused():
    assert parse_contrast("arterial") == PHASES["arterial"] == 350
    assert parse_contrast(" None ") == 40 and parse_contrast("venous") == 160
    assert parse_contrast("275") == 275.0 and parse_contrast(-20) == -20.0
    assert parse_contrast("model") is None
    with pytest.raises(GANSynthesisError, match="neither a phase"):
        parse_contrast("late")
    with pytest.raises(GANSynthesisError, match="outside -100…1500 HU"):
        parse_contrast("3000")
    with pytest.raises(GANSynthesisError, match="outside"):
        parse_contrast("nan")
    assert describe_level(350.0) == "350 HU (arterial phase, a CT angiogram)" and describe_level(275) == "275 HU"


def test_whole_body_arteries_take_the_level_and_the_rest_stays_the_networks(wholebody_bundle):
    labels = ts_labelmap()
    raw, _, _ = synthesize_wholebody(labels, wholebody_bundle, None, CPU)
    aorta = labels.array == TS_AORTA
    for level in (40.0, 350.0, 600.0):
        result = get_task("synthesize").run(labels, wholebody_bundle, {"contrast_hu": level}, CPU)
        ct = result.volume.array
        assert ct[aorta].mean() == pytest.approx(level, abs=0.01)
        assert result.summary["contrast_hu"] == level
        assert result.summary["model_artery_hu"] == pytest.approx(raw.array[aorta].mean(), abs=0.01)
        # the texture inside is the network's, shifted; far from the aorta nothing moves
        np.testing.assert_allclose(ct[aorta] - ct[aorta].mean(), raw.array[aorta] - raw.array[aorta].mean(), atol=1e-3)
        far = ~ndimage.binary_dilation(aorta, iterations=2)
        np.testing.assert_array_equal(ct[far], raw.array[far])
    near = ndimage.binary_dilation(aorta, structure=np.ones((1, 3, 3), bool)) & ~aorta  # the rim fades
    low = get_task("synthesize").run(labels, wholebody_bundle, {"contrast_hu": 40.0}, CPU).volume.array
    high = get_task("synthesize").run(labels, wholebody_bundle, {"contrast_hu": 600.0}, CPU).volume.array
    rise = (high - low)[near]
    assert 0 < rise.min() and rise.max() < 560 * 0.5


def test_the_default_is_the_arterial_phase_and_model_leaves_the_network_output(wholebody_bundle):
    labels = ts_labelmap()
    aorta = labels.array == TS_AORTA
    default = get_task("synthesize").run(labels, wholebody_bundle, {}, CPU)
    assert default.volume.array[aorta].mean() == pytest.approx(350.0, abs=0.01)
    assert get_task("synthesize").summary_lines(default)[0].startswith(
        "contrast: blood in arteries and heart chambers set to 350 HU (arterial phase, a CT angiogram)")
    as_drawn = get_task("synthesize").run(labels, wholebody_bundle, {"contrast_hu": None}, CPU)
    network = synthesize_wholebody(labels, wholebody_bundle, None, CPU)[0]
    np.testing.assert_array_equal(as_drawn.volume.array, network.array)
    assert as_drawn.summary == {} and get_task("synthesize").summary_lines(as_drawn) == []


def test_mmwhs_chambers_and_great_vessels_take_the_level_and_myocardium_does_not(bundle):
    labels = hand_drawn_heart(size=(60, 52, 10))
    raw = get_task("synthesize").run(labels, bundle, {"contrast_hu": None}, CPU).volume.array
    ct = get_task("synthesize").run(labels, bundle, {"contrast_hu": 200.0}, CPU).volume.array
    blood = np.isin(labels.array, [420, 500, 550, 600])
    vessels = np.isin(labels.array, [820, 850])
    for mask in (blood, vessels):
        if mask.any():
            assert ct[mask].mean() == pytest.approx(200.0, abs=0.01)
    core = labels.array == 205
    core &= ~ndimage.binary_dilation(blood | vessels, iterations=4)  # the fade: 3σ of 0.75 mm at 1.1 mm
    np.testing.assert_allclose(ct[core], raw[core], atol=0.01)


def test_each_class_ends_at_the_level_where_arteries_touch_the_chambers():
    from GANSynthesisLib.core.volume import Volume
    from GANSynthesisLib.tasks.synthesis.contrast_level import set_blood_level

    rng = np.random.default_rng(0)
    ct = Volume(rng.normal(200, 30, (6, 20, 20)).astype(np.float32), spacing=(0.5, 0.5, 1.0))
    chambers = np.zeros(ct.array.shape, bool)
    chambers[:, 4:10, 4:16] = True
    arteries = np.zeros(ct.array.shape, bool)
    arteries[:, 10:13, 8:12] = True  # right against the chambers
    out, drawn = set_blood_level(ct, {"cardiac blood pool": chambers, "artery": arteries}, 420.0)
    assert out.array[chambers].mean() == pytest.approx(420, abs=1e-3)
    assert out.array[arteries].mean() == pytest.approx(420, abs=1e-3)
    assert drawn["artery"] == pytest.approx(ct.array[arteries].mean())
