"""CT synthesis from label maps: geometry kept, any storage order, resampling by physical size, label values
and mappings, refusals."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from GANSynthesisLib.anatomy.mmwhs_structures import MMWHS_LABELS
from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.core.orientation import axial_view
from GANSynthesisLib.core.volume import Volume
from GANSynthesisLib.engine.inference import InferenceOptions, run_translator
from GANSynthesisLib.tasks.synthesis.label_values import present_values
from GANSynthesisLib.tasks.synthesis.labels_to_ct import (LabelToImageTranslator, labels_to_channels, prepare_labelmap,
                                                          synthesize)

from support import hand_drawn_heart, oblique_direction


def test_output_keeps_oblique_anisotropic_geometry(bundle):
    labels = hand_drawn_heart(direction=oblique_direction())
    result = synthesize(labels, bundle, options=InferenceOptions(device="cpu"))
    assert result.same_geometry(labels, atol=0) and result.array.dtype == np.float32
    assert np.isfinite(result.array).all()


def test_a_single_slice_and_odd_sizes_work(bundle):
    labels = hand_drawn_heart(size=(37, 23, 36), spacing=(4.1, 2.9, 2.0))
    one = Volume(np.ascontiguousarray(labels.array[17:18]), labels.spacing, labels.origin)
    result = synthesize(one, bundle, options=InferenceOptions(device="cpu"))
    assert result.array.shape == (1, 23, 37) and np.isfinite(result.array).all()


def test_same_anatomy_in_another_storage_order_gives_the_same_image(bundle):
    """A volume stored sagittally/flipped is viewed axially, so the result matches voxel for voxel."""
    labels = hand_drawn_heart(size=(64, 48, 20), spacing=(3.0, 3.0, 3.0))
    # Store i reversed (direction -x) and swap j/k (index j runs along z, index k along y).
    array = np.flip(labels.array, axis=2).transpose(1, 0, 2).copy()
    direction = np.array([[-1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]])
    stored = Volume(array, (3.0, 3.0, 3.0), (0, 0, 0), direction)
    view = axial_view(stored)
    np.testing.assert_array_equal(view.forward(stored.array), labels.array)
    options = InferenceOptions(device="cpu")
    reference = synthesize(labels, bundle, options=options).array
    reordered = synthesize(stored, bundle, options=options).array
    np.testing.assert_allclose(view.forward(reordered), reference, atol=1e-2)


def test_in_plane_resampling_follows_physical_size():
    """Through a pointwise network, the same anatomy at 1 mm and at 3 mm gives the same image."""
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Conv2d(8, 1, 1), torch.nn.Tanh())
    translator = LabelToImageTranslator(network, list(MMWHS_LABELS.values()), (3.0, 3.0), 1, (-1024.0, 2000.0))
    coarse = hand_drawn_heart(size=(60, 60, 12), spacing=(3.0, 3.0, 4.0))
    fine = hand_drawn_heart(size=(180, 180, 12), spacing=(1.0, 1.0, 4.0))
    a = run_translator(translator, coarse, InferenceOptions(device="cpu")).array
    b = run_translator(translator, fine, InferenceOptions(device="cpu")).array
    b_coarse = b.reshape(12, 60, 3, 60, 3).mean(axis=(2, 4))
    neighbourhood = (1, 5, 5)
    interior = ndimage.maximum_filter(coarse.array, neighbourhood) == ndimage.minimum_filter(coarse.array, neighbourhood)
    assert np.abs(a - b_coarse)[interior].max() < 1.0  # HU, away from label edges
    assert abs(a.mean() - b.mean()) < 0.02 * np.abs(a - a.mean()).mean()


def test_bad_label_maps_are_refused_clearly(bundle):
    labels = hand_drawn_heart(size=(30, 30, 6))
    with pytest.raises(GANSynthesisError, match="empty"):
        synthesize(labels.with_array(np.zeros_like(labels.array)), bundle)
    with pytest.raises(GANSynthesisError, match="None of the label values"):
        synthesize(labels.with_array((labels.array > 0).astype(np.uint16) * 3), bundle)
    with pytest.raises(GANSynthesisError, match="non-integer"):
        synthesize(labels.with_array(labels.array.astype(np.float32) + 0.5), bundle)


def test_label_mapping_sends_user_values_to_model_values(bundle):
    labels = hand_drawn_heart(size=(40, 40, 8))
    lut = {v: i for i, v in enumerate(sorted(set(np.unique(labels.array)) - {0}), start=1)}
    renumbered = labels.with_array(np.vectorize(lambda v: lut.get(v, 0))(labels.array).astype(np.uint16))
    options = InferenceOptions(device="cpu")
    mapped = synthesize(renumbered, bundle, {i: v for v, i in lut.items()}, options)
    np.testing.assert_allclose(mapped.array, synthesize(labels, bundle, options=options).array, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.int32, np.int64])
def test_labels_become_the_same_channels_in_every_integer_type(dtype):
    model_values = [1, 205, 500, 850]
    candidates = np.array([0, 1, 3, 205, 255, 500, 850, 1000, 40000, -7, 1 << 21])
    info = np.iinfo(dtype)
    candidates = candidates[(candidates >= info.min) & (candidates <= info.max)]
    labels = np.random.default_rng(1).choice(candidates, (3, 17, 9)).astype(dtype)
    expected = np.vectorize({v: c for c, v in enumerate(model_values, start=1)}.get)(labels, 0)
    channels = labels_to_channels(labels, model_values)
    assert channels.dtype == np.uint8 and np.array_equal(channels, expected)
    assert present_values(labels) == np.unique(labels).tolist()


def test_a_label_map_keeps_a_narrow_type_and_its_mapping_is_applied(bundle):
    model_value = next(iter(bundle.manifest.input.labels.values()))
    labels = np.zeros((4, 8, 8), np.float32)
    labels[1:3, 2:6, 2:6] = 7
    labels[0, 0, 0] = 9
    prepared = prepare_labelmap(Volume(labels, (1.0, 1.0, 1.0)), bundle, {7: model_value})
    assert prepared.array.dtype == np.uint16
    assert np.array_equal(prepared.array, np.where(labels == 7, model_value, labels))
    negative = prepare_labelmap(Volume((labels - 1).astype(np.int32), (1.0, 1.0, 1.0)), bundle, {6: model_value})
    assert negative.array.dtype == np.int64 and np.array_equal(negative.array, np.where(labels == 7, model_value,
                                                                                         labels - 1))
