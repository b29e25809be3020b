"""The Slicer module checked without the Slicer application: .ui file, module code, and its Logic on slicer-core."""

import ast
import importlib.util
import py_compile
import re
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, hand_drawn_heart
from mrml_scene import add_segmentation, add_volume_node, new_scene
from ui_preview import UI_FILE, render_panel

MODULE_FILE = ROOT / "GANSynthesis" / "GANSynthesis.py"
MODULE_CMAKE = ROOT / "GANSynthesis" / "CMakeLists.txt"


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


def test_cmake_lists_every_script_and_resource():
    cmake = MODULE_CMAKE.read_text().replace("${MODULE_NAME}", "GANSynthesis")
    assert "slicerMacroBuildScriptedModule" in cmake and "WITH_GENERIC_TESTS" in cmake
    assert "slicer_add_python_unittest" in (ROOT / "GANSynthesis" / "Testing" / "Python" / "CMakeLists.txt").read_text()
    for path in (ROOT / "GANSynthesis" / "Resources").rglob("*"):
        if path.is_file():
            assert str(path.relative_to(ROOT / "GANSynthesis")) in cmake, f"{path.name} not listed"
    assert "GANSynthesis.py" in cmake and "GANSynthesisLib" in cmake and "Resources/Models" in cmake


@pytest.fixture
def module(monkeypatch):
    import slicer_app_stubs

    slicer_app_stubs.install(monkeypatch)
    spec = importlib.util.spec_from_file_location("GANSynthesis", MODULE_FILE)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def test_logic_runs_the_task_on_real_mrml_nodes(module, tiny_bundle_dir):
    scene = new_scene()
    labels = hand_drawn_heart(size=(60, 50, 12))
    reference = add_volume_node(scene, labels.with_array(np.zeros(labels.array.shape, np.float32)), "CT")
    segmentation = add_segmentation(scene, labels, {205: "Myocardium", 420: "LA", 500: "LV", 550: "RA", 600: "RV",
                                                    820: "Aorta", 850: "PA"}, reference)
    logic = module.GANSynthesisLogic()
    bundle = logic.model(str(tiny_bundle_dir), "synthesize")
    assert "Intended use" in logic.modelCard(bundle)
    assert [m.model_label for m in logic.matchSegments(segmentation, bundle)].count(None) == 0
    prepared = logic.prepare("synthesize", segmentation, bundle, reference)
    fractions = []
    result = logic.compute(prepared, "cpu", 4, lambda f, m: fractions.append(f), lambda: False)
    node = logic.publish(prepared, result)
    assert fractions[-1] == 1.0 and node.GetAttribute("GANSynthesis.Synthetic") == "true"
    assert logic.ensureDependencies() is True  # everything is installed here: nothing to ask



def test_logic_says_what_the_anomaly_threshold_marks(module, tiny_anomaly_run):
    from GANSynthesisLib.thresholds import normal_share_marked, percent_text

    logic = module.GANSynthesisLogic()
    bundle = logic.model(str(tiny_anomaly_run / "exported"), "anomaly")
    default = bundle.manifest["anomaly"]["threshold"]
    share = percent_text(normal_share_marked(bundle.manifest, default))
    assert logic.thresholdHint(bundle, 0.0) == (f"model default: threshold {default:g}, which marks {share} of "
                                                "normal tissue on the model's calibration phantoms")
    assert logic.thresholdHint(bundle, 0.05).startswith("threshold 0.05, which marks "
                                                        f"{percent_text(normal_share_marked(bundle.manifest, 0.05))}")

def test_panel_renders_to_png(tmp_path):
    png = render_panel(tmp_path / "panel.png")
    from PySide6 import QtGui

    image = QtGui.QImage(str(png))
    assert image.width() > 300 and image.height() > 500
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 10  # widgets were drawn, not a blank canvas


def test_the_samples_are_offered_in_sample_data_with_their_thumbnails(module, monkeypatch):
    from GANSynthesisLib.sample_data import SAMPLES

    registered = []
    sample_data = types.ModuleType("SampleData")
    sample_data.SampleDataLogic = types.SimpleNamespace(registerCustomSampleDataSource=lambda **kw: registered.append(kw))
    monkeypatch.setitem(sys.modules, "SampleData", sample_data)
    module.registerSampleData()
    assert [source["sampleName"] for source in registered] == list(SAMPLES)
    for source in registered:
        assert source["category"] == "GAN Synthesis" and source["customDownloader"] is module.loadSampleFromSource
        assert source["uris"] == source["fileNames"] == source["nodeNames"] == []  # drawn here, nothing downloaded
        assert Path(source["thumbnailFileName"]).is_file()


def test_logic_loads_the_sample_that_fits_the_chosen_model(module, monkeypatch):
    import slicer

    scene = new_scene()
    monkeypatch.setattr(slicer, "mrmlScene", scene, raising=False)
    logic = module.GANSynthesisLogic()
    bundle = logic.model("anomaly-mr-phantom", "anomaly")
    assert logic.sampleInputFor(bundle) == ("GAN lesion phantom", "mr")
    node, nodes = logic.loadSampleInput(bundle)
    assert node.GetName() == "Lesion phantom MR" and node.GetScene() is scene
    assert set(nodes) == {"ct", "mr", "segmentation"}


PANEL_BEFORE_DEPENDENCIES = """
import sys
for name in ("torch", "safetensors", "scipy"):
    sys.modules[name] = None  # as in a Slicer where GANSynthesis has not installed them yet
from GANSynthesisLib.cards import model_card_html
from GANSynthesisLib.dependencies import missing_pip_packages, torch_missing
from GANSynthesisLib.registry import list_models
from GANSynthesisLib.sample_data import SAMPLES, sample_input_for
from GANSynthesisLib.tasks import TASKS
assert torch_missing() and missing_pip_packages() == ["safetensors", "scipy"]
bundles = [bundle for task in TASKS for bundle in list_models(task)]
cards = [model_card_html(bundle) for bundle in bundles]
samples = [sample_input_for(bundle) for bundle in bundles]
print(len(TASKS), len(cards), len(SAMPLES))
"""


def test_the_panel_lists_tasks_models_and_samples_before_torch_scipy_and_safetensors_are_installed():
    result = subprocess.run([sys.executable, "-c", PANEL_BEFORE_DEPENDENCIES], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3", str(len(list(ROOT.glob("Resources/Models/*/model.json")))), "2"]
