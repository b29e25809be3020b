"""Sample phantoms drawn into a real slicer-core scene: nodes, geometry, segments, which model each one feeds."""

from dataclasses import replace

import numpy as np
import pytest
from mrml_scene import add_volume_node, hierarchy_item_names, new_scene, node_ids
from PIL import Image

from GANSynthesisLib.anatomy.mmwhs_structures import MMWHS_LABELS
from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.core.volume import Volume
from GANSynthesisLib.files.image_files import read_metadata
from GANSynthesisLib.models.bundle import load_bundle
from GANSynthesisLib.models.manifest import InputSpec
from GANSynthesisLib.models.provenance import PHANTOM_KEY, SYNTHETIC_KEY
from GANSynthesisLib.models.registry import find_model, list_models
from GANSynthesisLib.phantoms.lesions import LesionKind
from GANSynthesisLib.slicer import api
from GANSynthesisLib.slicer.mrml import add_segmentation, labelmap_from_segmentation, match_segments, volume_from_node
from GANSynthesisLib.slicer.sample_data import (LESION_SEED, SAMPLES, drawn_sample, heart_case, lesion_sample_case,
                                                load_sample, load_sample_input, sample_input_for, wholebody_case)
from tools.sample_thumbnails import ICONS, render_all

slicer = pytest.importorskip("slicer")


@pytest.fixture(scope="module")
def cases():
    return {"GAN heart phantom": heart_case(), "GAN lesion phantom": lesion_sample_case(),
            "GAN whole-body phantom": wholebody_case()}


def folder_of(scene, node) -> str:
    hierarchy = scene.GetSubjectHierarchyNode()
    return hierarchy.GetItemName(hierarchy.GetItemParent(hierarchy.GetItemByDataNode(node)))


@pytest.mark.parametrize("name", list(SAMPLES))
def test_a_sample_lands_in_one_folder_with_its_exact_voxels_and_marked_as_a_phantom(name, cases):
    scene = new_scene()
    nodes = load_sample(scene, name)
    case = cases[name]
    assert set(nodes) == set(case.images) | {"segmentation"}
    for role, (node_name, volume, _) in case.images.items():
        read = volume_from_node(nodes[role])
        assert nodes[role].GetName() == node_name
        np.testing.assert_array_equal(read.array, volume.array)
        np.testing.assert_allclose(read.spacing, volume.spacing)
        np.testing.assert_allclose(read.origin, volume.origin, atol=1e-6)
    for node in nodes.values():
        assert node.GetAttribute(PHANTOM_KEY) == f"seed {case.seed}"
        assert node.GetAttribute(SYNTHETIC_KEY) is None  # a phantom, not a model's output
        assert folder_of(scene, node) == case.folder


def test_a_saved_sample_volume_says_it_is_a_phantom(tmp_path):
    nodes = load_sample(new_scene(), "GAN lesion phantom")
    header = read_metadata(api.export_volume(nodes["mr"], tmp_path / "mr.nii.gz"))
    assert header["descrip"] == f"GANSynthesis phantom seed {LESION_SEED} (procedural, not a patient)"


def test_the_heart_segments_match_every_model_label_and_give_back_the_phantoms_label_map(cases):
    scene = new_scene()
    nodes = load_sample(scene, "GAN heart phantom")
    labels = dict(MMWHS_LABELS)  # the phantom is in MM-WHS values
    assert all(match.model_label for match in match_segments(nodes["segmentation"], labels))
    exported, _ = labelmap_from_segmentation(nodes["segmentation"], labels, nodes["ct"])
    np.testing.assert_array_equal(exported.array, cases["GAN heart phantom"].segmentation[1].array)


def test_the_whole_body_segments_are_named_as_the_default_models_classes_and_give_back_its_label_map(cases):
    scene = new_scene()
    nodes = load_sample(scene, "GAN whole-body phantom")
    bundle = find_model(None, "synthesize")
    assert sample_input_for(bundle) == ("GAN whole-body phantom", "segmentation")
    labels = bundle.manifest.input.labels
    matches = match_segments(nodes["segmentation"], labels)
    given = {match.model_label for match in matches}
    assert given >= {"fat", "soft tissue", "lung", "bone", "myocardium", "cardiac blood pool"}
    assert all(match.model_label for match in matches)
    exported, _ = labelmap_from_segmentation(nodes["segmentation"], labels, nodes["ct"])
    np.testing.assert_array_equal(exported.array, cases["GAN whole-body phantom"].segmentation[1].array)


def test_the_default_model_makes_the_whole_body_sample_close_to_its_ct():
    scene = new_scene()
    segmentation, nodes = load_sample_input(scene, find_model(None, "synthesize"))
    synthetic = api.synthesize_ct(segmentation, reference_volume_node=nodes["ct"], device="cpu")
    assert synthetic.GetAttribute(SYNTHETIC_KEY) == "true"
    metrics, _ = api.evaluate(synthetic, nodes["ct"])
    assert metrics["mae"] < 120.0  # 76 HU in the body (the README demo, the same phantom)


def test_the_lesion_segments_are_the_true_lesions_by_kind(cases):
    scene = new_scene()
    nodes = load_sample(scene, "GAN lesion phantom")
    _, truth_volume, segments = cases["GAN lesion phantom"].segmentation
    model_labels = {name: int(kind) for kind, (name, _) in segments.items()}
    exported, _ = labelmap_from_segmentation(nodes["segmentation"], model_labels, nodes["ct"])
    truth = truth_volume.array
    np.testing.assert_array_equal(exported.array, truth)
    assert set(np.unique(truth)) == {0, *map(int, LesionKind)}  # both kinds are in the sample


def test_every_bundled_model_has_a_sample_input(cases):
    for bundle in list_models():
        name, role = sample_input_for(bundle)
        assert role in set(cases[name].images) | {"segmentation"}, bundle.name
        assert (role == "segmentation") == (bundle.task == "synthesize")
        assert (role == "ct_low_dose") == ("low dose" in (bundle.manifest.input.modality or "").lower())


def test_the_sample_for_the_mr_model_is_translated_close_to_its_ct():
    scene = new_scene()
    bundle = find_model("mr-to-ct-phantom", "translate")
    mr, nodes = load_sample_input(scene, bundle)
    assert mr.GetName() == "Heart phantom MR"
    synthetic = api.run_task("translate", mr, model=bundle, device="cpu")
    assert synthetic.GetAttribute(SYNTHETIC_KEY) == "true"
    metrics, _ = api.evaluate(synthetic, nodes["ct"])
    assert metrics["mae"] < 150.0  # its card: 109.5 ± 8.9 HU on held-out phantoms, inside the body


def test_no_sample_for_a_pet_model_and_an_unknown_name_add_nothing(tiny_bundle_dir, tmp_path):
    tiny = load_bundle(tiny_bundle_dir)
    pet = replace(tiny, manifest=replace(tiny.manifest, name="tiny-pet", task="translate",
                                         input=InputSpec(kind="image", modality="PET")))
    scene = new_scene()
    before = node_ids(scene)
    with pytest.raises(GANSynthesisError, match="No sample fits the input of model tiny-pet"):
        load_sample_input(scene, pet)
    with pytest.raises(GANSynthesisError, match="There is no sample 'CTChest'; choose one of GAN heart phantom"):
        load_sample(scene, "CTChest")
    assert node_ids(scene) == before


def test_a_sample_that_fails_half_way_leaves_no_node_and_no_folder(monkeypatch):
    """Out of memory (say) while the sample's nodes are filed into its folder: the volumes, the segmentation and the
    folder already made go again, and what was in the scene stays."""
    from GANSynthesisLib.slicer import mrml

    scene = new_scene()
    add_volume_node(scene, Volume(np.zeros((2, 3, 4), np.float32)), "the user's volume")
    before = node_ids(scene), hierarchy_item_names(scene)
    filed = []
    real_set_parent_item = mrml._set_parent_item

    def out_of_memory_on_the_second_node(hierarchy, node, parent):
        if filed:
            raise MemoryError("no memory left")
        filed.append(node.GetName())
        real_set_parent_item(hierarchy, node, parent)

    monkeypatch.setattr(mrml, "_set_parent_item", out_of_memory_on_the_second_node)
    with pytest.raises(MemoryError):
        load_sample(scene, "GAN heart phantom")
    assert filed == ["Heart phantom CT"]
    assert (node_ids(scene), hierarchy_item_names(scene)) == before
    monkeypatch.undo()
    nodes = load_sample(scene, "GAN heart phantom")  # and the next try works
    assert {folder_of(scene, node) for node in nodes.values()} == {"Heart phantom (seed 424242)"}
    assert len(node_ids(scene)) > len(before[0])


def test_a_segmentation_keeps_only_the_listed_values_and_gets_empty_segments_for_absent_ones():
    scene = new_scene()
    array = np.zeros((6, 8, 10), np.uint16)
    array[1:3, 2:5, 2:6], array[3:5, 4:7, 5:9], array[0, 0, :3] = 1, 3, 2
    labels = Volume(array, (1.5, 1.0, 2.0), (4.0, -3.0, 7.0), np.eye(3))
    node = add_segmentation(scene, labels, {1: ("one", (1, 0, 0)), 3: ("three", (0, 1, 0)), 4: ("four", (0, 0, 1))},
                            "test segmentation", {"origin": "test"})
    segmentation = node.GetSegmentation()
    segments = {segmentation.GetNthSegment(i).GetName(): segmentation.GetNthSegment(i)
                for i in range(segmentation.GetNumberOfSegments())}
    assert set(segments) == {"one", "three", "four"} and node.GetAttribute("origin") == "test"
    assert segments["four"].GetColor() == (0.0, 0.0, 1.0)
    exported, _ = labelmap_from_segmentation(node, {"one": 10, "three": 30}, None)
    assert set(np.unique(exported.array)) == {0, 10, 30}
    assert (exported.array == 10).sum() == (array == 1).sum() and (exported.array == 30).sum() == (array == 3).sum()


def test_thumbnails_are_drawn_for_every_sample_and_shipped_with_the_module(tmp_path):
    for drawn in render_all(tmp_path):
        shipped = ICONS / drawn.name
        assert shipped.is_file(), f"{drawn.name} is not in {ICONS}; run tools/sample_thumbnails.py"
        image = np.asarray(Image.open(drawn).convert("L"))
        assert image.shape == np.asarray(Image.open(shipped).convert("L")).shape
        assert image.std() > 20  # an image, not a blank canvas


def test_a_sample_is_drawn_once_and_what_one_load_changes_does_not_reach_the_next(cases):
    first = drawn_sample("GAN heart phantom")
    first.images["ct"][1].array[:] = 0  # e.g. a user's edit of the loaded volume
    again = drawn_sample("GAN heart phantom")
    np.testing.assert_array_equal(again.images["ct"][1].array, cases["GAN heart phantom"].images["ct"][1].array)
    with pytest.raises(GANSynthesisError, match="no sample"):
        drawn_sample("GAN brain phantom")
