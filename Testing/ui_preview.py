"""Render the module panel (.ui) to a PNG with PySide6, offscreen, for the README and a test.

Slicer and CTK widgets do not exist outside Slicer; each is shown as its nearest Qt class
(ctkCollapsibleButton → QGroupBox, qMRMLNodeComboBox → QComboBox, qMRMLWidget → QWidget).
Usage: python Testing/ui_preview.py OUTPUT.png
"""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UI_FILE = ROOT / "GANSynthesis" / "Resources" / "UI" / "GANSynthesis.ui"
STAND_INS = {"ctkCollapsibleButton": "QGroupBox", "qMRMLNodeComboBox": "QComboBox", "qMRMLWidget": "QWidget"}


def qt_only_ui(ui_path: Path = UI_FILE) -> bytes:
    """The .ui XML with Slicer/CTK classes replaced by Qt stand-ins and their scene connections dropped."""
    tree = ET.parse(ui_path)
    for widget in tree.iter("widget"):
        original = widget.get("class")
        if original in STAND_INS:
            widget.set("class", STAND_INS[original])
            for prop in widget.findall("property"):
                if original == "ctkCollapsibleButton" and prop.get("name") == "text":
                    prop.set("name", "title")
                elif prop.get("name") not in ("toolTip", "title", "sizePolicy"):
                    widget.remove(prop)
    root = tree.getroot()
    for tag in ("customwidgets", "connections"):
        for element in root.findall(tag):
            root.remove(element)
    return ET.tostring(root, encoding="utf-8")


def render_panel(png_path: Path) -> Path:
    """Fill the panel with what a user sees for the bundled model and a cardiac segmentation, save a PNG."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))
    from PySide6 import QtCore, QtUiTools, QtWidgets

    from GANSynthesisLib.cards import model_card_html
    from GANSynthesisLib.devices import describe_devices
    from GANSynthesisLib.registry import find_model
    from GANSynthesisLib.tasks import TASKS

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    buffer = QtCore.QBuffer()
    buffer.setData(QtCore.QByteArray(qt_only_ui()))
    buffer.open(QtCore.QIODevice.ReadOnly)
    panel = QtUiTools.QUiLoader().load(buffer)
    find = lambda name: panel.findChild(QtCore.QObject, name)  # noqa: E731
    for task in TASKS.values():
        find("taskComboBox").addItem(task.title)
    find("inputSegmentationSelector").addItem("Heart segmentation")
    find("referenceVolumeSelector").addItem("Patient CT")
    find("outputSelector").addItem("Create new volume")
    find("deviceComboBox").addItems(["auto", "cuda", "cpu"])
    for name in ("inputVolumeSelector", "inputVolumeLabel", "progressBar"):
        find(name).setVisible(False)
    bundle = find_model(None, "synthesize")
    find("modelComboBox").addItem(bundle.title)
    find("modelCardLabel").setText(model_card_html(bundle))
    find("deviceInfoLabel").setText("; ".join(describe_devices()))
    table = find("labelMappingTable")
    table.setHorizontalHeaderLabels(["Segment", "Model label"])
    segments = [("Myocardium of LV", "myocardium"), ("LA", "left atrium"), ("Left-Ventricle", "left ventricle"),
                ("right_atrium", "right atrium"), ("RV", "right ventricle"), ("Aorta", "ascending aorta"),
                ("Pulmonary Trunk", "pulmonary artery"), ("Liver", "(not used)")]
    table.setRowCount(len(segments))
    for row, (segment, label) in enumerate(segments):
        table.setItem(row, 0, QtWidgets.QTableWidgetItem(segment))
        combo = QtWidgets.QComboBox()
        combo.addItem(label)
        table.setCellWidget(row, 1, combo)
    table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.Stretch)
    find("applyButton").setEnabled(True)
    panel.resize(440, 860)
    panel.show()
    app.processEvents()
    png_path.parent.mkdir(parents=True, exist_ok=True)
    if not panel.grab().save(str(png_path)):
        raise RuntimeError(f"could not write {png_path}")
    return png_path


if __name__ == "__main__":
    print(render_panel(Path(sys.argv[1] if len(sys.argv) > 1 else "panel.png")))
