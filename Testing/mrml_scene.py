"""A real MRML scene from slicer-core, wired the way the Slicer application wires it."""

from __future__ import annotations

import numpy as np


def new_scene():
    import slicer

    scene = slicer.vtkMRMLScene()
    app = slicer.vtkSlicerApplicationLogic()
    app.SetMRMLScene(scene)
    colors = app.GetColorLogic()
    colors.SetMRMLScene(scene)
    colors.AddDefaultColorNodes()
    app.SetModuleLogic("Colors", colors)
    logics = [(slicer.vtkSlicerVolumesLogic(), "Volumes"), (slicer.vtkSlicerSegmentationsModuleLogic(), "Segmentations"),
              (slicer.vtkSlicerSubjectHierarchyModuleLogic(), "SubjectHierarchy")]
    for logic, name in logics:
        logic.SetMRMLScene(scene)
        logic.SetMRMLApplicationLogic(app)
        app.SetModuleLogic(name, logic)
    scene._keep_alive = (app, colors, logics)  # the logics must outlive the test
    return scene


def node_ids(scene) -> list[str]:
    return [scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())]


def hierarchy_item_names(scene) -> list[str]:
    """The names of every subject-hierarchy item under the scene (folders included), in creation order."""
    import vtk

    hierarchy = scene.GetSubjectHierarchyNode()
    items = vtk.vtkIdList()
    hierarchy.GetItemChildren(hierarchy.GetSceneItemID(), items, True)
    return [hierarchy.GetItemName(items.GetId(i)) for i in range(items.GetNumberOfIds())]


def add_volume_node(scene, volume, name: str, class_name: str = "vtkMRMLScalarVolumeNode"):
    from GANSynthesisLib.slicer.mrml import update_node_from_volume

    node = scene.AddNewNodeByClass(class_name, name)
    update_node_from_volume(node, volume)
    return node


def add_segmentation(scene, labels_volume, segment_names: dict[int, str], reference_node, name="Heart segmentation"):
    """A segmentation node made from a label map, with segments renamed (value → name)."""
    import slicer

    labelmap = add_volume_node(scene, labels_volume, "import labelmap", "vtkMRMLLabelMapVolumeNode")
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(reference_node)
    logic = slicer.vtkSlicerSegmentationsModuleLogic()
    logic.SetMRMLScene(scene)
    assert logic.ImportLabelmapToSegmentationNode(labelmap, segmentation)
    values = sorted(v for v in np.unique(labels_volume.array) if v)
    seg = segmentation.GetSegmentation()
    for index, value in enumerate(values):
        seg.GetSegment(seg.GetNthSegmentID(index)).SetName(segment_names[int(value)])
    scene.RemoveNode(labelmap)
    return segmentation
