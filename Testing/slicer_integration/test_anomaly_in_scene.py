"""Anomaly results in the MRML scene: heat overlay, scores table, chart and segment; failures leave the scene
as it was."""

import numpy as np
import pytest

from GANSynthesisLib.core.errors import GANSynthesisError
from GANSynthesisLib.core.volume import Volume
from GANSynthesisLib.models.bundle import load_bundle
from GANSynthesisLib.phantoms.lesions import lesion_case
from GANSynthesisLib.tasks.anomaly.thresholds import normal_share_marked


def test_scene_gets_heat_overlay_scores_table_chart_and_segment(tiny_anomaly_run):
    from mrml_scene import add_volume_node, new_scene

    from GANSynthesisLib.slicer import api

    scene = new_scene()
    case = lesion_case(90005, "ct", (64, 64, 10))
    input_node = add_volume_node(scene, case.image, "chest CT")
    views = [scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode") for _ in range(3)]
    heat = api.detect_anomalies(input_node, str(tiny_anomaly_run / "exported"), threshold=0.05, device="cpu")
    assert heat.GetAttribute("GANSynthesis.Synthetic") == "true" and "anomaly heatmap" in heat.GetName()
    display = heat.GetDisplayNode()
    assert display.GetColorNodeID() == "vtkMRMLColorTableNodeIron"
    assert display.GetApplyThreshold() and display.GetLowerThreshold() == pytest.approx(0.0375)
    assert display.GetWindow() == pytest.approx(0.1) and display.GetLevel() == pytest.approx(0.05)
    assert all(v.GetForegroundVolumeID() == heat.GetID() and v.GetBackgroundVolumeID() == input_node.GetID()
               and v.GetForegroundOpacity() == pytest.approx(0.5) for v in views)

    table = api.related_node(heat, "table")
    assert table.GetNumberOfRows() == 10
    columns = [table.GetColumnName(i) for i in range(table.GetNumberOfColumns())]
    assert columns == ["slice", "position_mm", "anomaly_score", "suspected_area_mm2"]
    scores = [table.GetTable().GetValueByName(r, "anomaly_score").ToDouble() for r in range(10)]
    assert max(scores) == pytest.approx(float(heat.GetAttribute("GANSynthesis.volume_score")), rel=1e-5)
    assert float(heat.GetAttribute("GANSynthesis.normal_share_marked")) == pytest.approx(
        normal_share_marked(load_bundle(tiny_anomaly_run / "exported").manifest, 0.05), rel=1e-5)
    chart = api.related_node(heat, "chart")
    series = chart.GetNthPlotSeriesNode(0)
    assert series.GetTableNodeID() == table.GetID() and series.GetYColumnName() == "anomaly_score"

    segmentation_node = api.related_node(heat, "segmentation")
    segment = segmentation_node.GetSegmentation().GetNthSegment(0)
    assert segment.GetName() == "suspected anomaly"
    import slicer

    heat_array = slicer.util.arrayFromVolume(heat)
    segment_id = segmentation_node.GetSegmentation().GetNthSegmentID(0)
    painted = slicer.util.arrayFromSegmentInternalBinaryLabelmap(segmentation_node, segment_id)
    assert painted.sum() == (heat_array >= 0.05).sum() > 0


def test_a_failed_anomaly_run_leaves_the_scene_as_it_was(tiny_anomaly_run):
    from mrml_scene import add_volume_node, new_scene, node_ids

    from GANSynthesisLib.slicer import api

    scene = new_scene()
    broken = lesion_case(90003, "ct", (48, 48, 6)).image
    array = broken.array.copy()
    array[2, 3, 4] = np.inf
    input_node = add_volume_node(scene, broken.with_array(array), "broken")
    before = node_ids(scene)
    with pytest.raises(GANSynthesisError):
        api.detect_anomalies(input_node, str(tiny_anomaly_run / "exported"), device="cpu")
    assert node_ids(scene) == before


def test_an_anomaly_result_that_fails_half_way_into_the_scene_adds_nothing_and_keeps_the_chosen_output(
        tiny_anomaly_run, monkeypatch):
    """The scores table and chart are in, then the segmentation fails (out of memory, say): they go again, and the
    output volume the user chose keeps its voxels, name and attributes."""
    import slicer
    from mrml_scene import add_volume_node, hierarchy_item_names, new_scene, node_ids

    from GANSynthesisLib.slicer import api

    scene = new_scene()
    input_node = add_volume_node(scene, lesion_case(90005, "ct", (48, 48, 6)).image, "chest CT")
    chosen = add_volume_node(scene, Volume(np.full((6, 48, 48), 7.0, np.float32)), "my output")
    chosen.SetAttribute("mine", "yes")
    run = api.prepare("anomaly", input_node, str(tiny_anomaly_run / "exported"), output_node=chosen)
    result = api.compute(run)
    before = node_ids(scene), hierarchy_item_names(scene)

    def out_of_memory(*args, **kwargs):
        raise MemoryError("no memory left")

    monkeypatch.setattr(api, "publish_segmentation", out_of_memory)
    with pytest.raises(MemoryError):
        api.publish(run, result)
    assert (node_ids(scene), hierarchy_item_names(scene)) == before
    assert scene.GetNodesByClass("vtkMRMLTableNode").GetNumberOfItems() == 0
    assert (slicer.util.arrayFromVolume(chosen) == 7.0).all()
    assert chosen.GetName() == "my output" and chosen.GetAttribute("GANSynthesis.Synthetic") is None
    monkeypatch.undo()
    assert api.related_node(api.publish(run, result), "segmentation") is not None  # the same result publishes later
