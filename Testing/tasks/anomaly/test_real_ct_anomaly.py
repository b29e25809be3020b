"""The bundled real-CT anomaly model on real chest CT it never trained on: the nodule case and a large tumour drawn
against the chest wall of the same held-out slices, beside the voxel-HU baseline."""

from __future__ import annotations

import numpy as np
import pytest

from GANSynthesisLib.engine.inference import InferenceOptions
from GANSynthesisLib.models.registry import BUNDLED_MODELS_DIR, find_model
from GANSynthesisLib.tasks.anomaly.detection import find_anomalies
from GANSynthesisTraining.data.real_normal_ct import real_normal_ct_present, scan_body
from GANSynthesisTraining.evaluation.detection_metrics import detection_metrics

pytestmark = [pytest.mark.skipif(not real_normal_ct_present(), reason="the real CTs of ../shared/data are absent"),
              pytest.mark.skipif(not (BUNDLED_MODELS_DIR / "anomaly-ct-real" / "model.json").exists(),
                                 reason="anomaly-ct-real is not bundled")]


def body_metrics(scan, scores: np.ndarray) -> dict[str, float]:
    body = scan_body(scan)
    return detection_metrics(scores[body].astype(np.float64), scan.mask.array[body] > 0)


@pytest.fixture(scope="module")
def scans():
    from GANSynthesisTraining.data.inserted_lesions import lesion_scans

    nodule, wall_tumour = lesion_scans()[:2]
    return {"nodule": nodule, "tumour against the chest wall": wall_tumour}


@pytest.mark.parametrize("name", ["nodule", "tumour against the chest wall"])
def test_the_real_ct_model_finds_real_lung_lesions_better_than_their_intensity(scans, name):
    scan = scans[name]
    result = find_anomalies(scan.image, find_model("anomaly-ct-real", "anomaly"), InferenceOptions(device="cpu"))
    model, voxel_hu = body_metrics(scan, result.heatmap.array), body_metrics(scan, scan.image.array)
    assert model["auroc"] >= 0.8 and model["auprc"] > 2 * voxel_hu["auprc"]
