"""The only module that touches MRML: nodes ↔ :class:`Volume`, segmentations → label maps, output nodes.

``slicer`` is imported lazily, so the rest of the library works without Slicer. Works in the Slicer
application and on the ``slicer-core`` wheel alike; never uses ``slicer.mrmlScene`` (the scene is
taken from the nodes).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np

from ..anatomy.label_mapping import canonical_label_name
from ..anatomy.wholebody_classes import PRIORITY, is_wholebody
from ..core.errors import GANSynthesisError
from ..core.volume import Volume, check_geometry

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])
DISPLAY_PRESETS = {  # output_display → (colour node ID, window, level)
    "ct": ("vtkMRMLColorTableNodeGrey", 800.0, 150.0),
    "grey": ("vtkMRMLColorTableNodeGrey", None, None),
    "heat": ("vtkMRMLColorTableNodeIron", None, None),
    "error": ("vtkMRMLColorTableNodeFileColdToHotRainbow.txt", 600.0, 0.0),
}
FALLBACK_COLOUR = "vtkMRMLColorTableNodeRainbow"  # where a file-based colour table is not loaded


def _slicer():
    import slicer

    return slicer


def _matrix_to_numpy(matrix) -> np.ndarray:
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def _check_in_scene(node, role: str) -> None:
    if node is None:
        raise GANSynthesisError(f"No {role} was given; select one.")
    if node.GetScene() is None:
        raise GANSynthesisError(f"The {role} {node.GetName()!r} is not in a scene (was it deleted?); select another.")


def _check_untransformed(node, role: str) -> None:
    if node.GetParentTransformNode() is not None:
        raise GANSynthesisError(
            f"The {role} {node.GetName()!r} is under a transform; harden the transform first "
            "(Data module → right-click the node → Harden transform) so its geometry is explicit."
        )


def volume_from_node(node, role: str = "input volume") -> Volume:
    """A copy of a scalar or label-map volume node's voxels with its geometry converted RAS → LPS."""
    _check_in_scene(node, role)
    _check_untransformed(node, role)
    if node.GetImageData() is None:
        raise GANSynthesisError(f"The {role} {node.GetName()!r} has no image data; load or create the volume first.")
    if node.GetImageData().GetPointData().GetScalars() is None:
        raise GANSynthesisError(f"The {role} {node.GetName()!r} has no voxels; load or create the volume first.")
    import vtk

    ijk_to_ras = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(ijk_to_ras)
    matrix = LPS_TO_RAS @ _matrix_to_numpy(ijk_to_ras)[:3]  # LPS_TO_RAS is its own inverse
    spacing = np.array(node.GetSpacing())
    array = _slicer().util.arrayFromVolume(node).copy()
    if array.ndim != 3 or array.size == 0:
        what = "no voxels" if array.size == 0 else f"{array.shape[-1]} components per voxel (a vector or colour image)"
        raise GANSynthesisError(f"The {role} {node.GetName()!r} has {what}; GANSynthesis needs a non-empty scalar "
                                "volume.")
    direction = matrix[:, :3] / np.where(spacing > 0, spacing, 1.0)  # a bad spacing is reported, not divided by
    return check_geometry(Volume(array, tuple(spacing), tuple(matrix[:, 3]), direction), f"{role} {node.GetName()!r}")


def update_node_from_volume(node, volume: Volume) -> None:
    """Set a volume node's voxels and geometry (LPS → RAS) from a Volume."""
    import vtk

    ras = np.eye(4)
    ras[:3, :3] = LPS_TO_RAS @ (volume.direction * np.asarray(volume.spacing))
    ras[:3, 3] = LPS_TO_RAS @ np.asarray(volume.origin)
    matrix = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            matrix.SetElement(r, c, ras[r, c])
    node.SetIJKToRASMatrix(matrix)
    _slicer().util.updateVolumeFromArray(node, np.ascontiguousarray(volume.array))


def _hierarchy_items(scene) -> set[int]:
    """The IDs of every subject-hierarchy item under the scene item."""
    import vtk

    hierarchy = scene.GetSubjectHierarchyNode()
    items = vtk.vtkIdList()
    hierarchy.GetItemChildren(hierarchy.GetSceneItemID(), items, True)
    return {items.GetId(i) for i in range(items.GetNumberOfIds())}


def _scene_contents(scene) -> tuple[set[str], set[int]]:
    """The IDs of the scene's nodes and of its subject-hierarchy items."""
    return {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}, _hierarchy_items(scene)


def _remove_added(scene, before: tuple[set[str], set[int]]) -> None:
    """Remove the nodes and subject-hierarchy items (folders) that are not in ``before``."""
    nodes_before, items_before = before
    for node in [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())]:
        if node.GetID() not in nodes_before:
            scene.RemoveNode(node)
    hierarchy = scene.GetSubjectHierarchyNode()
    for item in sorted(_hierarchy_items(scene) - items_before, reverse=True):  # children before their parents
        if item in _hierarchy_items(scene):  # not already gone with its data node
            hierarchy.RemoveItem(item, False, False)


@contextmanager
def _temporary_nodes(scene) -> Iterator[None]:
    """Remove, on exit, every node added to the scene inside the block (helper and display nodes too)."""
    before = _scene_contents(scene)
    try:
        yield
    finally:
        _remove_added(scene, before)


@contextmanager
def undone_on_error(scene) -> Iterator[None]:
    """If the block raises, remove every node and subject-hierarchy folder it added, so that a failure half-way
    through adding several nodes leaves the scene as it was."""
    before = _scene_contents(scene)
    try:
        yield
    except BaseException:
        _remove_added(scene, before)
        raise


@dataclass(frozen=True)
class SegmentMatch:
    """Which model label a segment was matched to (None: not used)."""

    segment_id: str
    segment_name: str
    model_label: str | None


def match_segments(segmentation_node, model_labels: Mapping[str, int],
                   explicit: Mapping[str, str] | None = None) -> list[SegmentMatch]:
    """Match each segment to a model label by name (synonyms, case, spacing) or by ``explicit``.

    ``explicit`` maps a segment name or ID to a model label name ('' or None: leave the segment out).
    """
    segmentation = segmentation_node.GetSegmentation()
    explicit = dict(explicit or {})
    matches = []
    for index in range(segmentation.GetNumberOfSegments()):
        segment_id = segmentation.GetNthSegmentID(index)
        name = segmentation.GetSegment(segment_id).GetName()
        if segment_id in explicit or name in explicit:
            wanted = explicit.get(segment_id, explicit.get(name))
            label = canonical_label_name(wanted, model_labels) if wanted else None
            if wanted and label is None:
                raise GANSynthesisError(f"Segment {name!r} is mapped to {wanted!r}, which is not one of the model's "
                                        f"labels ({', '.join(model_labels)}).")
        else:
            label = canonical_label_name(name, model_labels)
        matches.append(SegmentMatch(segment_id, name, label))
    used = [m.model_label for m in matches if m.model_label]
    duplicates = {label for label in used if used.count(label) > 1}
    if duplicates and not is_wholebody(model_labels):  # a whole-body model groups many segments into one class
        raise GANSynthesisError(f"Several segments match the model label(s) {', '.join(sorted(duplicates))}; map them "
                                "explicitly so each model label gets one segment.")
    return matches


def labelmap_from_segmentation(segmentation_node, model_labels: Mapping[str, int], reference_volume_node=None,
                               explicit: Mapping[str, str] | None = None) -> tuple[Volume, list[SegmentMatch]]:
    """The segmentation as a label map in the model's label values, on the reference volume's grid if given.

    Works for binary-labelmap and closed-surface source representations. The scene is left as it was.
    """
    slicer = _slicer()
    import vtk

    _check_in_scene(segmentation_node, "segmentation")
    _check_untransformed(segmentation_node, "segmentation")
    if reference_volume_node is not None:
        _check_in_scene(reference_volume_node, "reference volume")
        _check_untransformed(reference_volume_node, "reference volume")
        if reference_volume_node.GetImageData() is None:
            raise GANSynthesisError(f"The reference volume {reference_volume_node.GetName()!r} has no image data; "
                                    "load it or choose no reference volume.")
    matches = match_segments(segmentation_node, model_labels, explicit)
    used = [m for m in matches if m.model_label]
    if is_wholebody(model_labels):  # overlaps: later segments win, so fine classes go last
        used.sort(key=lambda m: PRIORITY.index(m.model_label))
    if not used:
        names = ", ".join(repr(m.segment_name) for m in matches) or "none"
        raise GANSynthesisError(f"No segment matches the model's labels ({', '.join(model_labels)}); segments: {names}. "
                                "Rename the segments or map them explicitly.")
    scene = segmentation_node.GetScene()
    logic = slicer.vtkSlicerSegmentationsModuleLogic()
    logic.SetMRMLScene(scene)
    ids = vtk.vtkStringArray()
    for match in used:
        ids.InsertNextValue(match.segment_id)
    with _temporary_nodes(scene):
        temporary = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "GANSynthesis temporary labelmap")
        if not logic.ExportSegmentsToLabelmapNode(segmentation_node, ids, temporary, reference_volume_node):
            raise GANSynthesisError(f"Could not turn segmentation {segmentation_node.GetName()!r} into a label map.")
        exported = volume_from_node(temporary, "exported label map")
    values = np.zeros(len(used) + 1, np.uint16)
    for index, match in enumerate(used, start=1):
        values[index] = model_labels[match.model_label]
    counts = np.bincount(exported.array.ravel().astype(np.int64), minlength=len(used) + 1)
    empty = [m.segment_name for m, count in zip(used, counts[1:]) if count == 0]
    if empty:
        where = "inside the reference volume" if reference_volume_node is not None else ""
        raise GANSynthesisError(f"Segment(s) {', '.join(map(repr, empty))} are empty {where}".strip()
                                + "; paint them, or leave them out of the label mapping.")
    return exported.with_array(values[exported.array.astype(np.int64)]), matches


def _set_parent_item(hierarchy, node, parent: int) -> None:
    item = hierarchy.GetItemByDataNode(node)
    if item:
        hierarchy.SetItemParent(item, parent)
    else:
        hierarchy.CreateItem(parent, node)


def _place_next_to(scene, node, input_node) -> None:
    hierarchy = scene.GetSubjectHierarchyNode()
    input_item = hierarchy.GetItemByDataNode(input_node)
    _set_parent_item(hierarchy, node, hierarchy.GetItemParent(input_item) if input_item else hierarchy.GetSceneItemID())


def put_in_folder(scene, nodes, folder_name: str) -> int:
    """A new subject-hierarchy folder at the top of the scene holding ``nodes``; returns its item ID."""
    hierarchy = scene.GetSubjectHierarchyNode()
    folder = hierarchy.CreateFolderItem(hierarchy.GetSceneItemID(), folder_name)
    for node in nodes:
        _set_parent_item(hierarchy, node, folder)
    return folder


def _apply_display(node, display: str) -> None:
    node.CreateDefaultDisplayNodes()
    colour, window, level = DISPLAY_PRESETS[display]
    display_node = node.GetDisplayNode()
    scene = node.GetScene()
    display_node.SetAndObserveColorNodeID(colour if scene.GetNodeByID(colour) else FALLBACK_COLOUR)
    if window is None:
        display_node.SetAutoWindowLevel(True)
    else:
        display_node.SetAutoWindowLevel(False)
        display_node.SetWindowLevel(window, level)


def publish_volume(input_node, volume: Volume, name_suffix: str, attributes: Mapping[str, Any], display: str = "ct",
                   output_node=None):
    """Put a result into the scene: a new uniquely named volume next to the input, or the chosen ``output_node``."""
    scene = input_node.GetScene()
    check_output_node(output_node, input_node)
    if output_node is None:
        output_node = add_volume(scene, volume, f"{input_node.GetName()} {name_suffix}", attributes, display)
    else:
        _fill_volume_node(output_node, volume, attributes, display)
    _place_next_to(scene, output_node, input_node)
    return output_node


def check_output_node(output_node, input_node) -> None:
    """Refuse an output node that is the input or not a scalar volume (None: a new node will be made)."""
    if output_node is None:
        return
    if output_node is input_node:
        raise GANSynthesisError("The output volume cannot be the input; choose another or create a new volume.")
    if not output_node.IsA("vtkMRMLScalarVolumeNode"):
        raise GANSynthesisError(f"The output {output_node.GetName()!r} is a {output_node.GetClassName()}, not a "
                                "scalar volume; choose a volume or create a new one.")


def _fill_volume_node(node, volume: Volume, attributes: Mapping[str, Any], display: str) -> None:
    update_node_from_volume(node, volume)
    for key, value in attributes.items():
        node.SetAttribute(key, str(value))
    _apply_display(node, display)


def add_volume(scene, volume: Volume, name: str, attributes: Mapping[str, Any], display: str = "ct"):
    """A new scalar volume node named ``name`` (made unique) holding ``volume``, with ``attributes`` and the
    ``display`` preset."""
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", scene.GenerateUniqueName(name))
    _fill_volume_node(node, volume, attributes, display)
    return node


def style_heatmap(node, threshold: float) -> None:
    """Iron colours over [0, 2·threshold]; values below ¾ of the threshold are transparent in slice views.

    ¾ rather than less: with anomaly-ct-phantom, ½ of the threshold coloured 9–11 % of normal body voxels of
    unseen lesion phantoms with partial volume (seeds 97000–97003), ¾ coloured 2–3 % while showing 29–96 % of
    the lesion voxels (the threshold itself: 0.3–0.5 % and 14–73 %)."""
    display_node = node.GetDisplayNode()
    display_node.SetAutoWindowLevel(False)
    display_node.SetWindowLevel(2.0 * threshold, threshold)
    display_node.SetAutoThreshold(False)
    display_node.SetThreshold(0.75 * threshold, 1.0)
    display_node.SetApplyThreshold(True)


def show_overlay(background_node, foreground_node, opacity: float = 0.5) -> int:
    """Show ``foreground_node`` over ``background_node`` in every slice view of the scene; returns how many."""
    scene = background_node.GetScene()
    composites = [scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode")
                  for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode"))]
    for composite in composites:
        composite.SetBackgroundVolumeID(background_node.GetID())
        composite.SetForegroundVolumeID(foreground_node.GetID())
        composite.SetForegroundOpacity(opacity)
    return len(composites)


def publish_table(input_node, rows: list[Mapping[str, float]], name_suffix: str, attributes: Mapping[str, Any],
                  x_column: str, y_column: str, y_title: str):
    """A table node of ``rows`` (one column per key) next to the input, and a chart plotting y against x;
    returns (table node, chart node)."""
    import vtk

    slicer = _slicer()
    scene = input_node.GetScene()
    name = scene.GenerateUniqueName(f"{input_node.GetName()} {name_suffix}")
    table_node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    for key in rows[0]:
        column = vtk.vtkIntArray() if isinstance(rows[0][key], (int, np.integer)) else vtk.vtkDoubleArray()
        column.SetName(key)
        for row in rows:
            column.InsertNextValue(row[key])
        table_node.AddColumn(column)
    for key, value in attributes.items():
        table_node.SetAttribute(key, str(value))
    series = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", f"{name} series")
    series.SetAndObserveTableNodeID(table_node.GetID())
    series.SetXColumnName(x_column)
    series.SetYColumnName(y_column)
    series.SetPlotType(slicer.vtkMRMLPlotSeriesNode.PlotTypeScatter)
    chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", f"{name} chart")
    chart.AddAndObservePlotSeriesNodeID(series.GetID())
    chart.SetTitle(f"{input_node.GetName()}: {y_title}")
    chart.SetXAxisTitle(x_column)
    chart.SetYAxisTitle(y_title)
    for node in (table_node, chart):
        _place_next_to(scene, node, input_node)
    return table_node, chart


def add_segmentation(scene, labels: Volume, segments: Mapping[int, tuple[str, tuple[float, float, float]]], name: str,
                     attributes: Mapping[str, Any]):
    """A new segmentation node named ``name`` (made unique) with one segment per entry of ``segments`` (label value
    → segment name, colour) cut from ``labels``; other values are left out, absent ones give empty segments."""
    slicer = _slicer()
    logic = slicer.vtkSlicerSegmentationsModuleLogic()
    logic.SetMRMLScene(scene)
    kept = np.where(np.isin(labels.array, list(segments)), labels.array, 0).astype(np.uint16)
    segmentation_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", scene.GenerateUniqueName(name))
    segmentation_node.CreateDefaultDisplayNodes()
    with _temporary_nodes(scene):
        labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "GANSynthesis temporary labelmap")
        update_node_from_volume(labelmap, labels.with_array(kept))
        imported = logic.ImportLabelmapToSegmentationNode(labelmap, segmentation_node)
    if not imported:
        scene.RemoveNode(segmentation_node)
        raise GANSynthesisError(f"Could not turn the label map into the segmentation {name!r}.")
    segmentation = segmentation_node.GetSegmentation()
    imported_by_value = {segment.GetLabelValue(): segment for segment in
                         (segmentation.GetNthSegment(i) for i in range(segmentation.GetNumberOfSegments()))}
    for value, (segment_name, colour) in segments.items():
        segment = imported_by_value.get(value)
        if segment is None:
            segmentation.AddEmptySegment("", segment_name, list(colour))
        else:
            segment.SetName(segment_name)
            segment.SetColor(*colour)
    for key, value in attributes.items():
        segmentation_node.SetAttribute(key, str(value))
    return segmentation_node


def publish_segmentation(input_node, mask: Volume, segment_name: str, colour: tuple[float, float, float],
                         attributes: Mapping[str, Any]):
    """A segmentation node with one segment (the mask's non-zero voxels) next to the input."""
    scene = input_node.GetScene()
    segmentation_node = add_segmentation(scene, mask.with_array((mask.array > 0).astype(np.uint8)),
                                         {1: (segment_name, colour)}, f"{input_node.GetName()} {segment_name}",
                                         attributes)
    _place_next_to(scene, segmentation_node, input_node)
    return segmentation_node


def remove_folder(scene, folder_item: int) -> None:
    """Remove a subject-hierarchy folder made by :func:`put_in_folder` with the nodes in it."""
    hierarchy = scene.GetSubjectHierarchyNode()
    if folder_item and hierarchy.GetItemName(folder_item):
        hierarchy.RemoveItem(folder_item, True, True)


def add_text_table(scene, name: str, header: tuple[str, ...], rows: list[tuple[str, ...]],
                   attributes: Mapping[str, Any]):
    """A new table node named ``name`` (made unique) with one text column per ``header`` entry."""
    import vtk

    table_node = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(name))
    for index, title in enumerate(header):
        column = vtk.vtkStringArray()
        column.SetName(title)
        for row in rows:
            column.InsertNextValue(str(row[index]))
        table_node.AddColumn(column)
    for key, value in attributes.items():
        table_node.SetAttribute(key, str(value))
    return table_node
