import numpy as np
import pytest
import vtk
from mrml_scene import add_segmentation, add_volume_node, new_scene, node_ids

from GANSynthesisLib.anatomy.mmwhs_structures import MMWHS_LABELS
from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.core.volume import Volume
from GANSynthesisLib.files.image_files import read_metadata, read_volume
from GANSynthesisLib.models.provenance import SYNTHETIC_KEY
from GANSynthesisLib.slicer import api
from GANSynthesisLib.slicer.mrml import labelmap_from_segmentation, update_node_from_volume, volume_from_node

from support import hand_drawn_heart, oblique_direction

slicer = pytest.importorskip("slicer")

OTHER_STYLE_NAMES = {205: "Myocardium of Left Ventricle", 420: "LA", 500: "Left-Ventricle", 550: "right_atrium",
                     600: "RV", 820: "Aorta", 850: "Pulmonary Trunk"}


@pytest.fixture
def scene():
    return new_scene()


@pytest.fixture
def labels():
    return hand_drawn_heart(size=(90, 80, 24), spacing=(2.2, 1.7, 3.5), direction=oblique_direction(25, 8))


@pytest.fixture
def reference(scene, labels):
    rng = np.random.default_rng(0)
    return add_volume_node(scene, labels.with_array(rng.normal(0, 50, labels.array.shape).astype(np.float32)),
                           "Patient CT")


@pytest.fixture
def segmentation(scene, labels, reference):
    return add_segmentation(scene, labels, OTHER_STYLE_NAMES, reference)


def ras_of_voxel(node, ijk):
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return np.array(matrix.MultiplyPoint([*ijk, 1.0])[:3])


def test_volume_node_geometry_matches_by_a_voxels_world_position(scene, labels):
    volume = Volume(np.arange(np.prod(labels.array.shape), dtype=np.float32).reshape(labels.array.shape),
                    labels.spacing, labels.origin, labels.direction)
    node = add_volume_node(scene, volume, "oblique")
    ijk = (7, 11, 5)
    lps = volume.index_to_physical(ijk)
    assert np.allclose(ras_of_voxel(node, ijk), [-lps[0], -lps[1], lps[2]], atol=1e-6)
    back = volume_from_node(node)
    assert back.same_geometry(volume) and np.array_equal(back.array, volume.array)


def test_a_file_written_by_slicer_reads_back_with_the_same_geometry(scene, labels, tmp_path):
    node = add_volume_node(scene, labels.with_array(labels.array.astype(np.int16)), "labels")
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(tmp_path / "from_slicer.nrrd"))
    assert storage.WriteData(node)
    from_file = read_volume(tmp_path / "from_slicer.nrrd")
    assert from_file.same_geometry(volume_from_node(node), atol=1e-5)
    np.testing.assert_array_equal(from_file.array, labels.array)


def test_segments_named_in_another_style_map_onto_the_reference_grid(scene, segmentation, reference, labels):
    volume, matches = labelmap_from_segmentation(segmentation, MMWHS_LABELS, reference)
    assert {m.segment_name: m.model_label for m in matches} == {
        "Myocardium of Left Ventricle": "myocardium", "LA": "left atrium", "Left-Ventricle": "left ventricle",
        "right_atrium": "right atrium", "RV": "right ventricle", "Aorta": "ascending aorta",
        "Pulmonary Trunk": "pulmonary artery"}
    assert volume.same_geometry(volume_from_node(reference), atol=1e-6)
    np.testing.assert_array_equal(volume.array, labels.array)


def test_closed_surface_source_is_handled(scene, segmentation, reference):
    segmentation.CreateClosedSurfaceRepresentation()
    seg = segmentation.GetSegmentation()
    seg.SetSourceRepresentationName("Closed surface")
    seg.RemoveRepresentation("Binary labelmap")
    volume, _ = labelmap_from_segmentation(segmentation, MMWHS_LABELS, reference)
    assert set(np.unique(volume.array)) == {0, *MMWHS_LABELS.values()}


def test_without_reference_the_segmentations_own_geometry_is_used(scene, segmentation):
    volume, _ = labelmap_from_segmentation(segmentation, MMWHS_LABELS)
    assert (volume.array == 500).sum() > 0 and set(np.unique(volume.array)) <= {0, *MMWHS_LABELS.values()}


def test_explicit_mapping_overrides_names(scene, segmentation, reference):
    volume, matches = labelmap_from_segmentation(segmentation, MMWHS_LABELS, reference,
                                                 {"Aorta": "", "RV": "pulmonary artery", "Pulmonary Trunk": ""})
    assert 820 not in volume.array and 600 not in volume.array and (volume.array == 850).any()


def test_scripting_api_makes_a_marked_synthetic_ct_next_to_the_input(scene, segmentation, reference, tiny_bundle_dir):
    hierarchy = scene.GetSubjectHierarchyNode()
    study = hierarchy.CreateFolderItem(hierarchy.GetSceneItemID(), "Study")
    hierarchy.CreateItem(study, segmentation)
    node = api.synthesize_ct(segmentation, reference, model=str(tiny_bundle_dir), device="cpu")
    assert node.GetName() == "Heart segmentation synthetic CT"
    assert node.GetAttribute(SYNTHETIC_KEY) == "true" and node.GetAttribute("GANSynthesis.Model") == "tiny-synth"
    assert volume_from_node(node).same_geometry(volume_from_node(reference), atol=1e-6)
    assert hierarchy.GetItemParent(hierarchy.GetItemByDataNode(node)) == study
    display = node.GetDisplayNode()
    assert display.GetColorNodeID() == "vtkMRMLColorTableNodeGrey" and display.GetWindow() == 800
    again = api.synthesize_ct(segmentation, reference, model=str(tiny_bundle_dir), device="cpu")
    assert again.GetName() != node.GetName() and again.GetName().startswith("Heart segmentation synthetic CT")


def test_bundled_model_gives_bright_blood_and_darker_myocardium(scene, segmentation, reference, labels):
    node = api.synthesize_ct(segmentation, reference, device="cpu", contrast="model")  # the network's own levels
    ct = slicer.util.arrayFromVolume(node)
    assert np.isfinite(ct).all() and node.GetAttribute("GANSynthesis.contrast_hu") is None
    assert ct[labels.array == 500].mean() > ct[labels.array == 205].mean() + 100
    stated = slicer.util.arrayFromVolume(api.synthesize_ct(segmentation, reference, device="cpu", contrast=275))
    chambers = np.isin(labels.array, [420, 500, 550, 600])  # the blood pool: its mean is set, its pattern kept
    assert stated[chambers].mean() == pytest.approx(275, abs=0.5)


def test_chosen_output_node_is_replaced_and_nothing_else_added(scene, segmentation, reference, tiny_bundle_dir):
    chosen = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "my output")
    before = node_ids(scene)
    node = api.synthesize_ct(segmentation, reference, model=str(tiny_bundle_dir), device="cpu", output_node=chosen)
    assert node is chosen and node.GetName() == "my output" and node.GetAttribute(SYNTHETIC_KEY) == "true"
    assert [i for i in node_ids(scene) if i not in before and "Display" not in i] == []


def failing_cases(scene, segmentation, reference, labels):
    unmatched = add_segmentation(scene, labels.with_array((labels.array > 0).astype(np.uint16)), {1: "Liver"},
                                 reference, "Other segmentation")
    with_empty = add_segmentation(scene, labels, OTHER_STYLE_NAMES, reference, "With empty segment")
    with_empty.GetSegmentation().AddEmptySegment("", "left ventricle cavity copy")
    with_empty.GetSegmentation().GetSegment(with_empty.GetSegmentation().GetNthSegmentID(2)).SetName("LV old")
    with_empty.GetSegmentation().GetSegment(with_empty.GetSegmentation().GetNthSegmentID(7)).SetName("Left Ventricle")
    empty_reference = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "not loaded")
    return [(unmatched, reference, "No segment matches"), (with_empty, reference, "empty"),
            (segmentation, empty_reference, "has no image data")]


def test_bad_inputs_give_clear_messages_and_add_nothing(scene, segmentation, reference, labels, tiny_bundle_dir):
    for seg, ref, message in failing_cases(scene, segmentation, reference, labels):
        before = node_ids(scene)
        with pytest.raises(GANSynthesisError, match=message):
            api.synthesize_ct(seg, ref, model=str(tiny_bundle_dir), device="cpu")
        assert node_ids(scene) == before


def test_removed_reference_volume_is_reported(scene, segmentation, reference, tiny_bundle_dir):
    scene.RemoveNode(reference)
    with pytest.raises(GANSynthesisError, match="not in a scene"):
        api.synthesize_ct(segmentation, reference, model=str(tiny_bundle_dir), device="cpu")


def test_cancel_leaves_the_scene_as_it_was(scene, segmentation, reference, tiny_bundle_dir):
    before = node_ids(scene)
    with pytest.raises(GANSynthesisError, match="Cancelled"):
        api.synthesize_ct(segmentation, reference, model=str(tiny_bundle_dir), device="cpu", batch_size=2,
                          cancel=lambda: True)
    assert node_ids(scene) == before


def test_transformed_input_is_refused(scene, segmentation, reference, tiny_bundle_dir):
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "shift")
    reference.SetAndObserveTransformNodeID(transform.GetID())
    with pytest.raises(GANSynthesisError, match="Harden transform"):
        api.synthesize_ct(segmentation, reference, model=str(tiny_bundle_dir), device="cpu")


def test_scalar_volume_is_not_a_segmentation(scene, reference, tiny_bundle_dir):
    with pytest.raises(GANSynthesisError, match="takes a segmentation or label map"):
        api.synthesize_ct(reference, model=str(tiny_bundle_dir))


def test_label_map_volume_node_is_accepted(scene, labels, tiny_bundle_dir):
    labelmap = add_volume_node(scene, labels, "heart labels", "vtkMRMLLabelMapVolumeNode")
    node = api.synthesize_ct(labelmap, model=str(tiny_bundle_dir), device="cpu")
    assert node.GetName() == "heart labels synthetic CT"
    update_node_from_volume(labelmap, labels)  # the input is untouched and still usable
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(labelmap), labels.array)


def test_evaluation_on_nodes_gives_metrics_and_an_error_map(scene, labels):
    rng = np.random.default_rng(3)
    real = labels.with_array(rng.normal(0, 100, labels.array.shape).astype(np.float32))
    reference = add_volume_node(scene, real, "real CT")
    synthetic = add_volume_node(scene, real.with_array(real.array + 25), "patient synthetic CT")
    mask = add_volume_node(scene, real.with_array((labels.array > 0).astype(np.uint8)), "mask",
                           "vtkMRMLLabelMapVolumeNode")
    metrics, error_map = api.evaluate(synthetic, reference, mask)
    assert metrics["mae"] == pytest.approx(25, abs=1e-3) and metrics["mask_voxels"] == int((labels.array > 0).sum())
    assert error_map.GetName() == "patient synthetic CT error map"
    np.testing.assert_allclose(slicer.util.arrayFromVolume(error_map), 25, atol=1e-3)
    assert volume_from_node(error_map).same_geometry(real, atol=1e-6)
    elsewhere = add_volume_node(scene, Volume(np.zeros((3, 4, 5), np.float32)), "other grid")
    with pytest.raises(GANSynthesisError, match="voxel grid"):
        api.evaluate(synthetic, elsewhere)


def test_a_saved_synthetic_volume_keeps_its_voxels_geometry_and_marking(scene, segmentation, reference, tiny_bundle_dir,
                                                                        tmp_path):
    node = api.synthesize_ct(segmentation, reference, model=str(tiny_bundle_dir), device="cpu")
    for name in ("synthetic.nrrd", "synthetic.nii.gz"):
        path = api.export_volume(node, tmp_path / name)
        written = read_volume(path)
        np.testing.assert_array_equal(written.array, slicer.util.arrayFromVolume(node))
        assert written.same_geometry(volume_from_node(node), atol=1e-5)
    header = read_metadata(tmp_path / "synthetic.nrrd")
    assert header[SYNTHETIC_KEY] == "true" and header["GANSynthesis.Model"] == "tiny-synth"
    assert header["GANSynthesis.Source"] == "Heart segmentation"
    assert read_metadata(tmp_path / "synthetic.nii.gz")["descrip"].startswith("SYNTHETIC CT GANSynthesis tiny-synth")
    before = (tmp_path / "synthetic.nrrd").read_bytes()
    with pytest.raises(GANSynthesisError, match="already exists"):
        api.export_volume(reference, tmp_path / "synthetic.nrrd")
    assert (tmp_path / "synthetic.nrrd").read_bytes() == before
    plain = api.export_volume(reference, tmp_path / "reference.nii.gz")  # no provenance: no description either
    assert SYNTHETIC_KEY not in read_metadata(plain) and "SYNTHETIC" not in read_metadata(plain).get("descrip", "")
