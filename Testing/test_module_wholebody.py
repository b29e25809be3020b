"""The Slicer module with the whole-body model: the label table fills itself from a TotalSegmentator segmentation."""

import numpy as np

from mrml_scene import add_segmentation, add_volume_node
from test_module import module, scene, slicer_rt, widget  # noqa: F401  (fixtures)
from GANSynthesisLib.volume import Volume

TS_SEGMENTS = {10: "lung_upper_lobe_left", 12: "lung_upper_lobe_right", 51: "heart", 52: "aorta",
               32: "vertebrae_T12", 94: "rib_left_3", 116: "sternum", 54: "brachiocephalic_trunk"}


def totalsegmentator_segmentation(scene):
    labels = np.zeros((8, 48, 56), np.uint8)
    labels[:, 10:22, 8:22] = 10
    labels[:, 10:22, 32:46] = 12
    labels[:, 22:32, 22:32] = 51
    labels[:, 14:18, 24:28] = 52
    labels[:, 36:42, 24:30] = 32
    labels[:, 8:10, 6:12] = 94
    labels[:, 4:7, 24:30] = 116
    labels[:, 19:21, 26:28] = 54
    volume = Volume(labels, spacing=(3.0, 3.0, 3.0), origin=(0.0, 0.0, 0.0), direction=np.eye(3))
    reference = add_volume_node(scene, volume.with_array(np.zeros(labels.shape, np.float32)), "CT angiogram")
    return add_segmentation(scene, volume, TS_SEGMENTS, reference, "TotalSegmentator"), reference


def test_the_label_table_fills_itself_from_a_totalsegmentator_segmentation(widget, scene):  # noqa: F811
    segmentation, _ = totalsegmentator_segmentation(scene)
    combo = widget.ui.modelComboBox
    combo.setCurrentIndex(combo.findData("wholebody-ct"))
    widget.ui.inputSegmentationSelector.setCurrentNode(segmentation)
    widget.updateLabelMapping()
    table = widget.ui.labelMappingTable
    rows = {table.item(row, 0).text(): table.cellWidget(row, 1).currentText for row in range(table.rowCount)}
    assert rows == {"lung_upper_lobe_left": "lung", "lung_upper_lobe_right": "lung", "heart": "heart",
                    "aorta": "artery", "vertebrae_T12": "bone", "rib_left_3": "bone", "sternum": "bone",
                    "brachiocephalic_trunk": "artery"}
    mapping = widget.segmentMapping()
    assert sorted(set(mapping.values())) == ["artery", "bone", "heart", "lung"]
