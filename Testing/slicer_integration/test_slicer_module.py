"""The Slicer module's own code on Slicer 5.10's real Python layer (see slicer_runtime.py): the parameter node through
the real wrapper, the panel, samples, Apply in a child process, Cancel, scene close, cleanup and the self-test."""

import ast
import logging
import os
import py_compile
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from mrml_scene import add_segmentation, add_volume_node, node_ids

from GANSynthesisLib.core.volume import Volume

from support import ROOT, hand_drawn_heart, until_finished

MODULE_FILE = ROOT / "GANSynthesis" / "GANSynthesis.py"
MODULE_CMAKE = ROOT / "GANSynthesis" / "CMakeLists.txt"
UI_FILE = ROOT / "GANSynthesis" / "Resources" / "UI" / "GANSynthesis.ui"
SEGMENT_NAMES = {205: "Myocardium", 420: "LA", 500: "LV", 550: "RA", 600: "RV", 820: "Aorta", 850: "PA"}


# --- the files themselves ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def ui_tree():
    return ET.parse(UI_FILE)


@pytest.fixture(scope="module")
def module_ast():
    return ast.parse(MODULE_FILE.read_text())


def class_node(tree, name):
    return next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == name)


def test_module_file_compiles():
    py_compile.compile(str(MODULE_FILE), doraise=True)


def test_every_widget_the_code_uses_exists_in_the_ui(ui_tree):
    names = {w.get("name") for w in ui_tree.iter("widget")}
    used = set(re.findall(r"self\.ui\.(\w+)", MODULE_FILE.read_text()))
    assert used and used <= names, f"missing in .ui: {sorted(used - names)}"


def test_every_widget_class_is_a_qt_ctk_or_slicer_class(ui_tree):
    from PySide6 import QtWidgets

    custom = {c.findtext("class"): c.findtext("extends") for c in ui_tree.getroot().iter("customwidget")}
    for widget in ui_tree.iter("widget"):
        cls = widget.get("class")
        if cls.startswith(("ctk", "qMRML", "qSlicer")):
            assert cls in custom and hasattr(QtWidgets, custom[cls]), f"{cls} needs a customwidget entry"
        else:
            assert hasattr(QtWidgets, cls), f"{cls} is not a Qt widget class"


def test_every_parameter_name_matches_a_parameter(ui_tree, module_ast):
    parameters = {n.target.id for n in class_node(module_ast, "GANSynthesisParameterNode").body
                  if isinstance(n, ast.AnnAssign)}
    bound = [p.findtext("string") for p in ui_tree.iter("property") if p.get("name") == "SlicerParameterName"]
    assert bound and set(bound) <= parameters, f"unknown parameters: {set(bound) - parameters}"
    assert {"inputSegmentation", "outputVolume", "device"} <= set(bound)


def test_logic_has_no_qt_dependency(module_ast):
    logic = class_node(module_ast, "GANSynthesisLogic")
    names = {n.id for n in ast.walk(logic) if isinstance(n, ast.Name)}
    attributes = {ast.unparse(n) for n in ast.walk(logic) if isinstance(n, ast.Attribute)}
    assert not names & {"qt", "ctk", "QFileDialog"}
    assert not any(a.startswith(("slicer.app", "qt.", "ctk.")) or "Display(" in a for a in attributes)


def test_the_module_starts_no_thread(module_ast):
    imported = {alias.name for n in ast.walk(module_ast) if isinstance(n, (ast.Import, ast.ImportFrom))
                for alias in n.names} | {n.module for n in ast.walk(module_ast) if isinstance(n, ast.ImportFrom)}
    assert not imported & {"threading", "concurrent.futures", "multiprocessing"}


def test_cmake_lists_every_script_and_resource():
    cmake = MODULE_CMAKE.read_text().replace("${MODULE_NAME}", "GANSynthesis")
    assert "slicerMacroBuildScriptedModule" in cmake and "WITH_GENERIC_TESTS" in cmake
    assert "slicer_add_python_unittest" in (ROOT / "GANSynthesis" / "Testing" / "Python" / "CMakeLists.txt").read_text()
    for path in (ROOT / "GANSynthesis" / "Resources").rglob("*"):
        if path.is_file():
            assert str(path.relative_to(ROOT / "GANSynthesis")) in cmake, f"{path.name} not listed"
    assert "GANSynthesis.py" in cmake and "GANSynthesisLib" in cmake and "Resources/Models" in cmake


def heart_segmentation(scene, size=(60, 50, 12)):
    labels = hand_drawn_heart(size=size)
    reference = add_volume_node(scene, labels.with_array(np.zeros(labels.array.shape, np.float32)), "Patient CT")
    return add_segmentation(scene, labels, SEGMENT_NAMES, reference), reference


def run_events(until, timeout: float = 180.0) -> float:
    """Run Qt's event loop until ``until()`` holds; returns the longest gap between 20 ms heartbeat ticks (how long
    the main thread was blocked)."""
    import qt

    beats = [time.perf_counter()]
    heartbeat = qt.QTimer()
    heartbeat.setInterval(20)
    heartbeat.timeout.connect(lambda: beats.append(time.perf_counter()))
    heartbeat.start()
    deadline = time.perf_counter() + timeout
    try:
        while not until():
            assert time.perf_counter() < deadline, "timed out"
            qt.QApplication.processEvents()
            time.sleep(0.002)
    finally:
        heartbeat.stop()
    beats.append(time.perf_counter())
    return float(np.diff(beats).max())


def test_the_real_wrapper_builds_the_parameter_node_and_every_parameter_round_trips(module, scene):
    segmentation, reference = heart_segmentation(scene)
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "labels")
    mask = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "mask")
    parameters = module.GANSynthesisLogic().getParameterNode()
    assert (parameters.task, parameters.device, parameters.batchSize, parameters.inputSegmentation) == (
        "synthesize", "auto", 16, None)
    values = {"task": "anomaly", "model": "anomaly-ct-phantom", "inputSegmentation": segmentation,
              "inputVolume": reference, "referenceVolume": reference, "outputVolume": mask, "device": "cpu",
              "batchSize": 7, "anomalyThreshold": 0.3, "contrastPhase": "custom", "contrastHU": 275.0,
              "evaluationSynthetic": reference,
              "evaluationReference": reference, "evaluationMask": mask}
    for name, value in values.items():
        setattr(parameters, name, value)
    again = module.GANSynthesisParameterNode(parameters.parameterNode)  # read back from the MRML node itself
    for name, value in values.items():
        assert getattr(again, name) == value, name
    again.inputSegmentation = labelmap  # the other member of the union
    assert parameters.inputSegmentation is labelmap
    again.inputSegmentation = None
    assert parameters.inputSegmentation is None
    with pytest.raises(ValueError):
        parameters.batchSize = 0
    with pytest.raises(ValueError):
        parameters.device = "tpu"
    with pytest.raises(ValueError):
        parameters.contrastPhase = "late"


def test_setup_connects_the_panel_to_the_parameter_node(widget):
    parameters = widget._parameterNode
    assert widget.ui.taskComboBox.count == 3 and widget.ui.modelComboBox.count >= 1
    assert widget.ui.deviceComboBox.currentText == "auto"
    widget.ui.batchSizeSpinBox.value = 5  # GUI → parameter node
    parameters.device = "cpu"  # parameter node → GUI
    assert parameters.batchSize == 5 and widget.ui.deviceComboBox.currentText == "cpu"
    widget.ui.taskComboBox.setCurrentIndex(widget.ui.taskComboBox.findData("anomaly"))
    assert parameters.task == "anomaly"
    assert widget.ui.inputVolumeSelector.isVisibleTo(widget.parent)
    assert not widget.ui.inputSegmentationSelector.isVisibleTo(widget.parent)
    assert widget.ui.anomalyThresholdSpinBox.isVisibleTo(widget.parent)
    models = [widget.ui.modelComboBox.itemData(i) for i in range(widget.ui.modelComboBox.count)]
    assert "anomaly-ct-phantom" in models and "mmwhs-ct" not in models
    assert "of normal tissue" in widget.ui.anomalyThresholdHintLabel.text


def test_volume_tasks_ignore_a_segmentation_in_the_scene(widget, scene):
    heart_segmentation(scene)  # selected by the segmentation selector, which allows no None
    widget.ui.taskComboBox.setCurrentIndex(widget.ui.taskComboBox.findData("anomaly"))
    widget.ui.loadSampleButton.click()  # the lesion phantom, which brings a segmentation of its own
    assert widget.ui.inputVolumeSelector.currentNode().GetName() == "Lesion phantom CT"
    assert widget.ui.labelMappingTable.rowCount == 0 and "of normal tissue" in widget.ui.anomalyThresholdHintLabel.text
    assert widget.ui.statusLabel.text == "Loaded Lesion phantom CT; press Apply." and widget.ui.applyButton.enabled


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


@pytest.fixture
def user_wholebody_model(tiny_wholebody_bundle_dir, tmp_path, monkeypatch):
    """A whole-body model installed in the user's model folder (a temporary one here)."""
    import GANSynthesisLib.models.registry as registry

    monkeypatch.setattr(registry, "USER_MODELS_DIR", tmp_path)
    shutil.copytree(tiny_wholebody_bundle_dir, tmp_path / "tiny-wholebody")
    return "tiny-wholebody"


def test_the_label_table_fills_itself_from_a_totalsegmentator_segmentation(user_wholebody_model, widget,
                                                                            scene):
    segmentation, _ = totalsegmentator_segmentation(scene)
    combo = widget.ui.modelComboBox
    combo.setCurrentIndex(combo.findData(user_wholebody_model))
    assert combo.currentData == user_wholebody_model
    widget.ui.inputSegmentationSelector.setCurrentNode(segmentation)
    widget.updateLabelMapping()
    table = widget.ui.labelMappingTable
    rows = {table.item(row, 0).text(): table.cellWidget(row, 1).currentText for row in range(table.rowCount)}
    assert rows == {"lung_upper_lobe_left": "lung", "lung_upper_lobe_right": "lung", "heart": "heart",
                    "aorta": "artery", "vertebrae_T12": "bone", "rib_left_3": "bone", "sternum": "bone",
                    "brachiocephalic_trunk": "artery"}
    mapping = widget.segmentMapping()
    assert sorted(set(mapping.values())) == ["artery", "bone", "heart", "lung"]


def test_the_contrast_phase_box_reaches_the_run(widget, scene):
    segmentation, _ = totalsegmentator_segmentation(scene)
    parameters, ui = widget._parameterNode, widget.ui
    assert ui.contrastPhaseComboBox.isVisibleTo(widget.parent)
    assert [ui.contrastPhaseComboBox.itemText(i) for i in range(ui.contrastPhaseComboBox.count)] == [
        "arterial", "venous", "none", "model", "custom"]
    assert ui.contrastPhaseComboBox.currentText == "arterial" and not ui.contrastHUSpinBox.enabled
    bundle = widget.currentBundle()
    assert widget.logic.prepare(parameters, segmentation, bundle).inputs["contrast_hu"] == 350.0
    ui.contrastPhaseComboBox.setCurrentIndex(ui.contrastPhaseComboBox.findText("none"))  # GUI → parameter node
    assert parameters.contrastPhase == "none"
    assert widget.logic.prepare(parameters, segmentation, bundle).inputs["contrast_hu"] == 40.0
    ui.contrastPhaseComboBox.setCurrentIndex(ui.contrastPhaseComboBox.findText("model"))
    assert widget.logic.prepare(parameters, segmentation, bundle).inputs["contrast_hu"] is None
    ui.contrastPhaseComboBox.setCurrentIndex(ui.contrastPhaseComboBox.findText("custom"))
    assert ui.contrastHUSpinBox.enabled
    ui.contrastHUSpinBox.value = 275
    assert widget.logic.prepare(parameters, segmentation, bundle).inputs["contrast_hu"] == 275.0
    ui.taskComboBox.setCurrentIndex(ui.taskComboBox.findData("anomaly"))
    assert not ui.contrastPhaseComboBox.isVisibleTo(widget.parent)


def test_the_saved_task_and_model_survive_leaving_and_entering_the_module(widget, scene):
    heart_segmentation(scene)
    parameters = widget._parameterNode
    widget.exit()
    parameters.task, parameters.model = "anomaly", "fanogan-ct-phantom"
    widget.enter()
    assert (parameters.task, parameters.model) == ("anomaly", "fanogan-ct-phantom")
    assert widget.ui.modelComboBox.currentData == "fanogan-ct-phantom"


def test_the_model_catalogue_is_read_once(module, monkeypatch):
    import GANSynthesisLib.models.registry as registry

    calls = []
    real = registry.list_models
    monkeypatch.setattr(registry, "list_models", lambda *a, **k: calls.append(1) or real(*a, **k))
    logic = module.GANSynthesisLogic()
    for task in ("synthesize", "translate", "anomaly", "synthesize"):
        assert logic.models(task)
    assert logic.model("mmwhs-ct", "synthesize").name == "mmwhs-ct"
    assert logic.model("mmwhs-ct", "anomaly") is None
    assert len(calls) == 1


def test_apply_runs_the_model_in_a_child_process_and_publishes_a_synthetic_node(widget, scene, tmp_path):
    widget.ui.loadSampleButton.click()  # the default model's sample: the whole-body phantom's segmentation and CT
    segmentation = widget.ui.inputSegmentationSelector.currentNode()
    reference = widget.ui.referenceVolumeSelector.currentNode()
    assert segmentation.IsA("vtkMRMLSegmentationNode") and reference.GetName() == "Whole-body phantom CT"
    assert widget.ui.labelMappingTable.rowCount == segmentation.GetSegmentation().GetNumberOfSegments() == 10
    assert widget.ui.applyButton.enabled
    before = set(node_ids(scene))
    widget._parameterNode.device = "cpu"
    started = []
    widget.ui.applyButton.clicked.connect(lambda: started.append(widget._run[0].process.pid if widget._run else None))

    import qt

    qt.QTimer.singleShot(0, widget.ui.applyButton.click)  # from the event loop, as a user's click comes
    longest_block = run_events(lambda: started and widget._run is None, timeout=240)

    assert started[0] is not None and started[0] != os.getpid()  # a child process did the work
    assert widget.ui.statusLabel.text.startswith("Done:"), widget.ui.statusLabel.text
    new = [scene.GetNodeByID(i) for i in set(node_ids(scene)) - before]
    outputs = [n for n in new if n.IsA("vtkMRMLScalarVolumeNode")]
    assert len(outputs) == 1
    output = outputs[0]
    assert output.GetAttribute("GANSynthesis.Synthetic") == "true" and "synthetic" in output.GetName()
    assert output.GetAttribute("GANSynthesis.contrast_hu") == "350"  # the default phase: arterial
    assert "Blood set to 350 HU (arterial phase, a CT angiogram)." in widget.ui.statusLabel.text
    assert output.GetImageData().GetDimensions() == reference.GetImageData().GetDimensions()
    import vtk

    a, b = vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4()
    output.GetIJKToRASMatrix(a)
    reference.GetIJKToRASMatrix(b)
    assert np.allclose([a.GetElement(i, j) for i in range(4) for j in range(4)],
                       [b.GetElement(i, j) for i in range(4) for j in range(4)])
    assert widget.ui.evaluationSyntheticSelector.currentNode() is output
    assert longest_block < 0.2, f"the main thread was blocked for {longest_block:.3f} s"
    assert widget.ui.applyButton.text == "Apply"
    assert widget.ui.deviceInfoLabel.text.startswith("Last run: CPU: ")  # what the child ran on
    png = tmp_path / "panel.png"
    assert widget.parent.grab().save(str(png)) and png.stat().st_size > 10_000


def start_run(widget, scene):
    segmentation, reference = heart_segmentation(scene, size=(120, 100, 40))
    widget.ui.inputSegmentationSelector.setCurrentNode(segmentation)
    widget.ui.referenceVolumeSelector.setCurrentNode(reference)
    widget._parameterNode.device = "cpu"
    before = node_ids(scene)
    widget.ui.applyButton.click()
    child = widget._run[0]
    folder = child.folder
    assert child.process.poll() is None and folder.is_dir()
    assert widget.ui.applyButton.text == "Cancel"
    run_events(lambda: child.poll().message != "starting", timeout=60)  # the child is at work
    return child, folder, before


def test_cancel_ends_the_child_within_a_second_and_leaves_the_scene_as_it_was(widget, scene):
    child, folder, before = start_run(widget, scene)
    clicked = time.perf_counter()
    widget.ui.applyButton.click()
    assert child.process.poll() is not None and time.perf_counter() - clicked < 1.0
    run_events(lambda: True)
    assert node_ids(scene) == before and not folder.exists()
    assert widget._run is None and widget.ui.applyButton.text == "Apply"
    assert widget.ui.statusLabel.text == "Cancelled; the scene is unchanged."


def test_closing_the_scene_during_a_run_ends_it_and_adds_nothing(widget, scene):
    child, folder, _ = start_run(widget, scene)
    scene.Clear(0)
    run_events(lambda: True)
    assert child.process.poll() is not None and not folder.exists() and widget._run is None
    assert scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == 0


def test_unloading_the_module_ends_the_run_and_stops_the_timer(widget, scene, slicer_rt):
    child, folder, _ = start_run(widget, scene)
    timer = widget._timer
    slicer_rt.app.moduleManager().moduleAboutToBeUnloaded.emit("GANSynthesis")  # Reload: Slicer calls cleanup()
    assert child.process.poll() is not None and not folder.exists() and widget._timer is None
    status = widget.ui.statusLabel.text
    end = time.perf_counter() + 0.3
    run_events(lambda: time.perf_counter() > end)
    assert not timer.isActive() and widget.ui.statusLabel.text == status  # no old timer calls into the panel


def test_a_failing_child_reports_its_error_line_and_leaves_no_folder(tmp_path, tiny_bundle_dir):
    from GANSynthesisLib.slicer.child_run import ChildRun

    broken = tmp_path / "broken"
    shutil.copytree(tiny_bundle_dir, broken)
    (broken / "generator.safetensors").write_bytes(b"0" * 100)  # the SHA-256 no longer matches
    child = ChildRun()
    child.start("synthesize", hand_drawn_heart(size=(40, 30, 4)), broken, {}, "cpu", 4)
    folder = child.folder
    assert "does not match its SHA-256" in until_finished(child).error and not folder.exists()
    with pytest.raises(Exception, match="no result"):
        child.take_result()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_the_childs_error_line(tiny_bundle_dir):
    from GANSynthesisLib.slicer.child_run import ChildRun

    child = ChildRun()
    child.start("synthesize", hand_drawn_heart(size=(40, 30, 4)), tiny_bundle_dir, {}, "cuda", 4)
    assert until_finished(child).error == ("A GPU (cuda) was requested but PyTorch sees none here; use device 'auto' "
                                           "or 'cpu'.")


LAUNCHER = """#!{python}
# Like Slicer's PythonSlicer: starts the real Python as its own child and passes no signal on.
import os, subprocess, sys
child = subprocess.Popen([sys.executable, *sys.argv[1:]])
open(os.environ["LAUNCHED_PID_FILE"], "w").write(str(child.pid))
sys.exit(child.wait())
"""


def process_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_cancel_ends_the_real_python_behind_a_launcher(tmp_path, monkeypatch, tiny_bundle_dir):
    from GANSynthesisLib.slicer.child_run import ChildRun

    launcher = tmp_path / "PythonSlicer"
    launcher.write_text(LAUNCHER.format(python=sys.executable))
    launcher.chmod(0o755)
    pid_file = tmp_path / "pid"
    monkeypatch.setenv("LAUNCHED_PID_FILE", str(pid_file))
    child = ChildRun(python=str(launcher))
    child.start("synthesize", hand_drawn_heart(size=(240, 200, 200)), tiny_bundle_dir, {}, "cpu", 1)
    deadline = time.time() + 60
    while child.poll().message == "starting":  # the real Python is at work
        assert time.time() < deadline
        time.sleep(0.05)
    real_python = int(pid_file.read_text())
    assert process_alive(real_python)
    started = time.perf_counter()
    child.cancel()
    while process_alive(real_python) and time.perf_counter() - started < 1.0:
        time.sleep(0.01)
    assert not process_alive(real_python), "the model process outlived Cancel"


def test_the_child_ends_when_its_parent_goes(tiny_bundle_dir):
    from GANSynthesisLib.slicer.child_run import ChildRun

    child = ChildRun()
    child.start("synthesize", hand_drawn_heart(size=(240, 200, 200)), tiny_bundle_dir, {}, "cpu", 1)
    deadline = time.time() + 60
    while child.poll().message == "starting":
        assert time.time() < deadline
        time.sleep(0.05)
    child.process.stdin.close()  # what the system does when Slicer dies
    assert child.process.wait(5) == 3


def test_the_child_returns_every_part_of_an_anomaly_result(tiny_anomaly_run):
    from GANSynthesisLib.models.registry import find_model
    from GANSynthesisLib.phantoms.thorax import generate_phantom
    from GANSynthesisLib.slicer.child_run import ChildRun
    from GANSynthesisLib.tasks.catalogue import get_task

    ct = generate_phantom(5, (64, 64, 6), (6.0, 6.0, 6.0)).ct
    bundle = find_model(str(tiny_anomaly_run / "exported"), "anomaly")
    child = ChildRun()
    child.start("anomaly", ct, bundle.path, {"threshold": 0.2}, "cpu", 4)
    status = until_finished(child)
    assert status.error is None and status.fraction == 1.0 and status.device.startswith("CPU")
    folder = child.folder
    result = child.take_result()
    assert not folder.exists()
    from GANSynthesisLib.engine.inference import InferenceOptions

    direct = get_task("anomaly").run(ct, bundle, {"threshold": 0.2}, InferenceOptions(device="cpu", batch_size=4))
    np.testing.assert_array_equal(result.volume.array, direct.volume.array)
    np.testing.assert_array_equal(result.segmentation.array, direct.segmentation.array)
    assert result.volume.spacing == ct.spacing and result.summary == direct.summary
    assert result.slice_table == direct.slice_table and result.warnings == direct.warnings


def test_missing_dependencies_are_a_clear_error(module, monkeypatch):
    import types

    import slicer

    import GANSynthesisLib.slicer.dependencies as dependencies
    from GANSynthesisLib.core.errors import GANSynthesisError

    logic = module.GANSynthesisLogic()
    monkeypatch.setattr(dependencies, "torch_missing", lambda: True)
    monkeypatch.setitem(sys.modules, "PyTorchUtils", None)  # installed from a zip without the PyTorch extension
    with pytest.raises(GANSynthesisError, match="Extensions Manager"):
        logic.ensureDependencies()

    class OfflineTorchInstaller:  # PyTorchUtils' logic when pip cannot reach its index
        def installTorch(self, **options):
            raise subprocess.CalledProcessError(1, ["light-the-torch", "install", "torch"])

    monkeypatch.setitem(sys.modules, "PyTorchUtils", types.SimpleNamespace(PyTorchUtilsLogic=OfflineTorchInstaller))
    with pytest.raises(GANSynthesisError, match="Installing PyTorch failed"):
        logic.ensureDependencies()
    monkeypatch.setattr(dependencies, "torch_missing", lambda: False)
    monkeypatch.setattr(dependencies, "missing_pip_packages", lambda: ["safetensors"])

    def offline(requirements):
        raise subprocess.CalledProcessError(1, ["pip", "install", requirements])

    monkeypatch.setattr(slicer.util, "pip_install", offline)
    with pytest.raises(GANSynthesisError, match="pip failed"):
        logic.ensureDependencies()
    with pytest.raises(GANSynthesisError, match="were not installed"):
        logic.ensureDependencies(confirm=lambda message: False)


def test_settings_are_checked_on_the_main_thread_before_a_child_starts(module, scene):
    from GANSynthesisLib.core.errors import GANSynthesisError

    logic = module.GANSynthesisLogic()
    parameters = logic.getParameterNode()
    segmentation, reference = heart_segmentation(scene)
    parameters.anomalyThreshold = 0.5
    lesion_ct = add_volume_node(scene, hand_drawn_heart(size=(40, 30, 4)), "CT")
    prepared = logic.prepare(parameters, lesion_ct, logic.model("anomaly-ct-phantom", "anomaly"))
    assert prepared.inputs == {"threshold": 0.5} and node_ids(scene)[-1] == lesion_ct.GetID()
    with pytest.raises(GANSynthesisError, match="No model"):
        logic.prepare(parameters, segmentation, None)
    with pytest.raises(GANSynthesisError, match="takes a segmentation or label map"):
        logic.prepare(parameters, reference, logic.model("mmwhs-ct", "synthesize"))


def test_sample_data_offers_the_phantoms_and_its_button_loads_them(module, scene, slicer_rt):
    import SampleData

    from GANSynthesisLib.slicer.sample_data import SAMPLES

    module.registerSampleData()
    sources = SampleData.SampleDataLogic.sampleDataSourcesByCategory("GAN Synthesis")
    assert [source.sampleName for source in sources] == list(SAMPLES)
    for source in sources:
        assert Path(source.thumbnailFileName).is_file() and source.customDownloader is module.loadSampleFromSource
    sources[0].customDownloader(sources[0])  # what Sample Data's button does
    names = {scene.GetNthNode(i).GetName() for i in range(scene.GetNumberOfNodes())}
    assert {"Heart phantom CT", "Heart phantom MR", "Heart phantom segmentation"} <= names
    composites = [scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode")
                  for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode"))]
    assert {scene.GetNodeByID(c.GetBackgroundVolumeID()).GetName() for c in composites} == {"Heart phantom CT"}


def test_sample_data_download_sample_from_a_script_loads_the_phantom(module, scene):
    import SampleData

    from GANSynthesisLib.slicer.sample_data import heart_case

    module.registerSampleData()
    ct = SampleData.downloadSample("GAN heart phantom")  # Sample Data's scripting path: no custom downloader
    assert ct.GetName() == "Heart phantom CT" and ct.GetScene() is scene
    import slicer

    case = heart_case()
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(ct), case.images["ct"][1].array)
    segmentation = slicer.util.getFirstNodeByClassByName("vtkMRMLSegmentationNode", "Heart phantom segmentation",
                                                         scene)
    names = {segmentation.GetSegmentation().GetNthSegment(i).GetName()
             for i in range(segmentation.GetSegmentation().GetNumberOfSegments())}
    assert names == {name for name, _colour in case.segmentation[2].values()}
    cached = Path(scene.GetCacheManager().GetRemoteCacheDirectory(), "GANSynthesis GAN heart phantom ct.nrrd")
    drawn_at = cached.stat().st_mtime_ns
    again = SampleData.downloadSample("GAN heart phantom")  # from the cache: not drawn again
    assert again is not ct and cached.stat().st_mtime_ns == drawn_at


def test_the_self_test_skips_the_model_runs_without_torch_as_ctest_runs_it(module, scene, monkeypatch):
    import unittest

    import GANSynthesisLib.slicer.dependencies as dependencies

    monkeypatch.setattr(dependencies, "torch_missing", lambda: True)  # an extension build machine
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(module.GANSynthesisTest).run(result)  # every test* method
    assert result.errors == result.failures == [] and result.testsRun == 2
    assert [reason for _test, reason in result.skipped] == [
        "PyTorch or safetensors is not installed, and a test run never downloads them. Press Apply once (or "
        "install PyTorch in PyTorch Utils) and test again."]


@pytest.mark.slow
def test_the_self_test_runs_every_task_through_a_child_process(module, scene, caplog):
    caplog.set_level(logging.INFO)
    test = module.GANSynthesisTest()
    test.delayDisplay = lambda message, *a, **k: logging.info(message)
    test.runTest()
    passed = [r.getMessage() for r in caplog.records if r.getMessage().endswith("test passed")]
    assert passed == ["samples: test passed", "synthesize: test passed", "translate: test passed",
                      "anomaly: test passed"]


PANEL_BEFORE_DEPENDENCIES = """
import sys
for name in ("torch", "safetensors", "scipy"):
    sys.modules[name] = None  # as in a Slicer where GANSynthesis has not installed them yet
from GANSynthesisLib.tasks.model_cards import model_card_html
from GANSynthesisLib.slicer.dependencies import missing_pip_packages, torch_missing
from GANSynthesisLib.core.devices import DEVICE_CHOICES
from GANSynthesisLib.models.registry import list_models
from GANSynthesisLib.slicer.sample_data import SAMPLES, sample_input_for
from GANSynthesisLib.tasks.catalogue import TASKS
import GANSynthesisLib.slicer.child_run
assert torch_missing() and missing_pip_packages() == ["safetensors", "scipy"]
del sys.modules["scipy"]  # Slicer ships scipy; the samples need it and numpy, not torch
SAMPLES["GAN heart phantom"].make()
SAMPLES["GAN whole-body phantom"].make()
assert not any(name.startswith(("torch", "safetensors")) for name in sys.modules if sys.modules[name] is not None)
bundles = [bundle for task in TASKS for bundle in list_models(task)]
cards = [model_card_html(bundle) for bundle in bundles]
samples = [sample_input_for(bundle) for bundle in bundles]
print(len(TASKS), len(cards), len(SAMPLES), len(DEVICE_CHOICES))
"""


def test_the_panel_lists_tasks_models_and_samples_before_torch_scipy_and_safetensors_are_installed():
    result = subprocess.run([sys.executable, "-c", PANEL_BEFORE_DEPENDENCIES], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3", str(len(list(ROOT.glob("Resources/Models/*/model.json")))), "3", "3"]
