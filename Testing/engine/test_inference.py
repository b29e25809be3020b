"""The inference engine: batch size, progress, cancelling, and a clear error for CUDA without a GPU."""

import numpy as np
import pytest

from GANSynthesisLib.core.errors import CancelledError, GANSynthesisError
from GANSynthesisLib.engine.inference import InferenceOptions
from GANSynthesisLib.tasks.synthesis.labels_to_ct import synthesize

from support import hand_drawn_heart


def test_batch_size_does_not_change_the_result_and_progress_reaches_one(bundle):
    labels = hand_drawn_heart(size=(50, 40, 11))
    seen = []
    one = synthesize(labels, bundle, options=InferenceOptions(device="cpu", batch_size=1))
    many = synthesize(labels, bundle, options=InferenceOptions(device="cpu", batch_size=4,
                                                               progress=lambda f, m: seen.append(f)))
    np.testing.assert_allclose(one.array, many.array, atol=1e-2)  # HU; float noise only
    assert seen == sorted(seen) and seen[0] == 0.0 and seen[-1] == 1.0 and len(seen) == 4  # at once, then per batch


def test_cancel_stops_the_run(bundle):
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(CancelledError):
        synthesize(hand_drawn_heart(size=(40, 40, 10)), bundle, options=InferenceOptions(device="cpu", batch_size=2,
                                                                                           cancel=cancel))
    assert len(calls) == 2


def test_cuda_without_a_gpu_is_a_clear_error(bundle):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(GANSynthesisError, match="GPU"):
        synthesize(hand_drawn_heart(size=(30, 30, 4)), bundle, options=InferenceOptions(device="cuda"))
