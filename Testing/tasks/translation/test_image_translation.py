"""Modality translation: geometry, warnings and refusals of translate(), a real MR from the command line, and
the bundled MR-to-CT and low-dose models against their baselines."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.core.volume import Volume
from GANSynthesisLib.engine.inference import InferenceOptions
from GANSynthesisLib.engine.input_checks import intensity_histogram, normalised_input
from GANSynthesisLib.evaluation.image_metrics import masked_mae, masked_psnr
from GANSynthesisLib.files.image_files import read_metadata, read_volume
from GANSynthesisLib.models.bundle import load_bundle, save_bundle
from GANSynthesisLib.models.manifest import InputSpec, InputStatistics
from GANSynthesisLib.models.networks import ResnetGenerator
from GANSynthesisLib.models.registry import find_model
from GANSynthesisLib.phantoms.modalities import low_dose_ct, render_mr
from GANSynthesisLib.phantoms.thorax import generate_phantom
from GANSynthesisLib.tasks.translation.image_translation import translate
from GANSynthesisTraining.data.paired_cases import phantom_cases
from GANSynthesisTraining.evaluation.baselines import IntensityMapping

from support import MR_NORMALISATION, ROOT, mni152_t1, oblique_direction, tiny_manifest


@pytest.fixture(scope="module")
def tiny_translation_bundle(tmp_path_factory):
    torch.manual_seed(1)
    generator = ResnetGenerator(1, 1, base_width=4, n_blocks=1)
    phantom_mr = render_mr(generate_phantom(5, (64, 64, 8), (6.0, 6.0, 6.0)))
    statistics = InputStatistics(tuple(intensity_histogram(normalised_input(phantom_mr.array, MR_NORMALISATION))),
                                 warn_distance=0.3, data="one phantom")
    manifest = tiny_manifest("tiny-translate", generator, task="translate",
                             input=InputSpec(kind="image", modality="MR (T1-weighted)",
                                             normalisation=MR_NORMALISATION,
                                             statistics=statistics))
    folder = tmp_path_factory.mktemp("translate") / "tiny-translate"
    save_bundle(folder, manifest, {"generator": generator.state_dict()}, dtype=torch.float32)
    return load_bundle(folder)


def test_translate_keeps_oblique_geometry_and_warns_only_on_unfamiliar_input(tiny_translation_bundle):
    mr = render_mr(generate_phantom(6, (64, 64, 8), (6.0, 6.0, 6.0)))
    oblique = Volume(mr.array, (2.5, 3.5, 6.0), (10.0, -4.0, 7.0), oblique_direction())
    out, warnings = translate(oblique, tiny_translation_bundle, InferenceOptions(device="cpu"))
    assert out.same_geometry(oblique) and np.isfinite(out.array).all() and warnings == []
    checker = np.indices((8, 64, 64)).sum(axis=0) % 2 * 1000.0  # nothing like a body
    _, warnings = translate(oblique.with_array(checker), tiny_translation_bundle, InferenceOptions(device="cpu"))
    assert len(warnings) == 1 and "unlike the data" in warnings[0]


def test_translate_refuses_non_finite_input(tiny_translation_bundle):
    bad = np.ones((2, 16, 16), np.float32)
    bad[0, 0, 0] = np.nan
    with pytest.raises(GANSynthesisError, match="non-finite"):
        translate(Volume(bad), tiny_translation_bundle)


def test_translate_a_real_mr_from_the_command_line(tmp_path):
    """The MNI152 T1 template: real MR no one here wrote (a brain, unlike the thorax the model knows)."""
    source = mni152_t1()
    output = tmp_path / "mni_synthetic_ct.nrrd"
    result = subprocess.run([sys.executable, "-m", "GANSynthesisLib", "translate", "-i", source, "-o", output,
                             "-m", "mr-to-ct-phantom", "--device", "cpu", "-q"], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr and "unlike the data" in result.stderr
    assert "(1 mm in-plane, 1 mm slices) differ more than 2× in size" in result.stderr  # trained on 3 mm voxels
    assert read_volume(output).same_geometry(read_volume(source), atol=1e-5)
    assert np.isfinite(read_volume(output).array).all()
    assert "unlike the data" in read_metadata(output)["GANSynthesis.Warnings"]


def test_bundled_mr_to_ct_beats_intensity_mapping_on_a_new_phantom():
    bundle = find_model("mr-to-ct-phantom", "translate")
    test = phantom_cases([95001], source="mr")[0]
    baseline = IntensityMapping(phantom_cases([0, 1, 2], source="mr"), bundle.manifest.input.normalisation)
    synthetic, warnings = translate(test.source, bundle, InferenceOptions(device="cpu"))
    assert warnings == []
    model_mae = masked_mae(test.target.array, synthetic.array, test.body)
    assert model_mae < masked_mae(test.target.array, baseline(test), test.body)
    metrics = bundle.manifest.metrics
    assert metrics["model"]["mae"] < metrics["baselines"]["per-tissue intensity mapping"]["mae"]
