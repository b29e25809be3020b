"""The scripting API refuses empty and vector volumes and a segmentation as output, adding nothing."""

from __future__ import annotations

import pytest

from GANSynthesisLib.core.errors import GANSynthesisError

from support import CT_VALUES, heart_labels


def test_api_refuses_empty_and_vector_volumes_and_a_segmentation_as_output(tiny_bundle_dir):
    pytest.importorskip("slicer")
    from mrml_scene import add_segmentation, add_volume_node, new_scene, node_ids

    from GANSynthesisLib.core.volume import Volume
    from GANSynthesisLib.slicer import api

    scene = new_scene()
    labels = Volume(heart_labels(), (2.0, 2.0, 2.0))
    reference = add_volume_node(scene, labels.with_array(CT_VALUES), "CT")
    segmentation = add_segmentation(scene, labels, {500: "left ventricle", 205: "myocardium"}, reference)
    empty = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "empty")
    empty.SetAndObserveImageData(__import__("vtk").vtkImageData())
    vector = scene.AddNewNodeByClass("vtkMRMLVectorVolumeNode", "vector")
    image = __import__("vtk").vtkImageData()
    image.SetDimensions(16, 16, 4)
    image.AllocateScalars(__import__("vtk").VTK_FLOAT, 3)
    vector.SetAndObserveImageData(image)
    before = node_ids(scene)
    for node, message in ((empty, "no voxels"), (vector, "components per voxel")):
        with pytest.raises(GANSynthesisError, match=message):
            api.run_task("translate", node, device="cpu")
    other_segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "other")
    before = node_ids(scene)
    with pytest.raises(GANSynthesisError, match="not a scalar volume"):
        api.synthesize_ct(segmentation, reference, model=str(tiny_bundle_dir), output_node=other_segmentation,
                          device="cpu")
    assert node_ids(scene) == before
