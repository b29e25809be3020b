"""A Slicer test runtime without the Slicer application: real MRML, Slicer 5.10's own Python layer, real Qt.

What is real here:
- ``slicer`` is slicer-core's MRML and ``slicer.util``; a fresh, application-wired scene is ``slicer.mrmlScene``;
- ``slicer.parameterNodeWrapper``, ``slicer.ScriptedLoadableModule``, ``slicer.i18n`` and ``SampleData`` are
  Slicer 5.10.0's own files from ``../shared/slicer-5.10`` (never copied into the project);
- ``qt`` is Qt for Python (PySide6, offscreen): QtCore, QtGui, QtWidgets and a ``.ui`` loader.

Stand-ins, kept small, for what exists only inside the Slicer application:
- ``slicer.app`` (testing mode: message boxes are logged, confirmations answer OK), its module manager
  (the ``moduleAboutToBeUnloaded`` signal that calls a widget's ``cleanup()``), its file reader for volume and
  segmentation files (through slicer-core's volumes and segmentations logics), and ``slicer.modules``;
- ``slicer.qMRMLWidget`` (passes its scene on through the ``.ui`` file's connections),
  ``slicer.qMRMLNodeComboBox`` (lists the real scene's nodes of its ``nodeTypes``, follows nodes added and
  removed, selects the first node when None is not allowed; no "Create new" or rename entries) and
  ``ctk.ctkCollapsibleButton`` (a group box with ``text`` and ``collapsed``). Other CTK/qMRML classes are
  placeholders the parameter-node wrapper compares types against; none is ever built.

Where PythonQt and Qt for Python differ, and how it is bridged:
- PythonQt exposes every Qt property as an attribute (``spinBox.value = 3``, ``combo.currentData``,
  ``widget.name``). Each Qt widget class the ``.ui`` loader builds is a subclass that adds those attributes from
  its meta-object, so the wrapper's GUI connectors and the module run unchanged; ``type(widget) == qt.QComboBox``
  holds as in Slicer.
- PythonQt's ``obj.connect("signal(args)", slot)`` (the form Slicer's template uses) is given to the widget
  classes and stand-ins; it connects the signal of that name, without using the argument list to pick an
  overload (Qt 6 dropped most overloads; PythonQt over Qt 5 picks the one named).
- Python threads: PySide6 releases the GIL while Qt's event loop runs, PythonQt in Slicer does not. This runtime
  therefore cannot show a worker thread starving; the module runs its work in a child process, and the tests
  measure that the main thread stays free.
"""

from __future__ import annotations

import os
import sys
import tempfile
import types
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SLICER_510 = ROOT.parent / "shared" / "slicer-5.10"
MODULE_FILE = ROOT / "GANSynthesis" / "GANSynthesis.py"
UNAVAILABLE_REASON = (f"Slicer 5.10's Python layer is not at {SLICER_510} (it lies beside the project's checkout in "
                      "the development workspace, not in a user's own clone); the module tests need it")


def available() -> bool:
    """Whether Slicer 5.10's own Python layer is at hand."""
    return (SLICER_510 / "slicer" / "parameterNodeWrapper" / "wrapper.py").is_file()


def _pythonqt_style(base: type) -> type:
    """A subclass of a Qt class whose Qt properties are attributes, as PythonQt gives them."""
    meta = base.staticMetaObject
    namespace = {"__module__": "qt", "__qualname__": base.__name__}
    for index in range(meta.propertyCount()):
        name = meta.property(index).name()
        capitalised = name[:1].upper() + name[1:]
        getter = next((getattr(base, candidate) for candidate in (name, "is" + capitalised, "has" + capitalised)
                       if callable(getattr(base, candidate, None))), None)
        setter = getattr(base, "set" + capitalised, None)
        if getter is not None:
            namespace[name] = property(getter, setter)
    namespace["name"] = property(base.objectName, base.setObjectName)
    namespace["connect"] = _connect_by_signature
    return type(base.__name__, (base,), namespace)


def _connect_by_signature(self, signature: str, slot) -> None:
    """PythonQt's ``obj.connect("signal(args)", slot)``."""
    getattr(self, signature.split("(")[0]).connect(slot)


def _build_qt():
    from PySide6 import QtCore, QtGui, QtUiTools, QtWidgets

    qt = types.ModuleType("qt")
    for module in (QtCore, QtGui, QtWidgets):
        for name in dir(module):
            if name.startswith("Q") or name == "Qt":
                setattr(qt, name, getattr(module, name))
    for name in dir(QtWidgets):
        value = getattr(QtWidgets, name)
        if isinstance(value, type) and issubclass(value, QtWidgets.QWidget):
            setattr(qt, name, _pythonqt_style(value))
    qt.QUiLoader = _ui_loader_class(qt, QtCore, QtUiTools)
    return qt


def _ui_loader_class(qt, QtCore, QtUiTools):
    class UiLoader(QtUiTools.QUiLoader):
        """Builds the PythonQt-style classes and the Slicer/CTK stand-ins, then makes the file's connections."""

        def createWidget(self, class_name, parent=None, name=""):
            cls = getattr(qt, class_name, None) or getattr(sys.modules["slicer"], class_name, None) \
                or getattr(sys.modules["ctk"], class_name, None)
            if cls is None:
                return super().createWidget(class_name, parent, name)
            widget = cls(parent)
            widget.setObjectName(name)
            return widget

        def load(self, source, parent=None):
            if isinstance(source, str):
                source = qt.QFile(source)
            if not source.isOpen():
                source.open(qt.QFile.ReadOnly)
            tree = ET.fromstring(bytes(source.readAll()))
            connections = tree.find("connections")
            if connections is not None:
                tree.remove(connections)  # made below: their signatures name C++ types
            buffer = QtCore.QBuffer()
            buffer.setData(QtCore.QByteArray(ET.tostring(tree)))
            buffer.open(QtCore.QIODevice.ReadOnly)
            root = super().load(buffer, parent)
            for connection in (connections if connections is not None else []):
                sender, receiver = (_named(root, connection.findtext(role)) for role in ("sender", "receiver"))
                signal = connection.findtext("signal").split("(")[0]
                getattr(sender, signal).connect(getattr(receiver, connection.findtext("slot").split("(")[0]))
            return root

    return UiLoader


def _named(root, name: str):
    return root if root.property("objectName") == name else root.findChild(sys.modules["qt"].QObject, name)


def _build_mrml_widgets(qt):
    from PySide6 import QtCore

    class qMRMLWidget(qt.QWidget):
        """A widget that passes its scene on (the .ui file connects ``mrmlSceneChanged`` to its children)."""

        mrmlSceneChanged = QtCore.Signal(object)
        connect = _connect_by_signature
        isEntered = False  # as the module panel of a module that is not shown

        def __init__(self, parent=None):
            super().__init__(parent)
            self._scene = None

        def setMRMLScene(self, scene) -> None:
            self._scene = scene
            self.mrmlSceneChanged.emit(scene)

        def mrmlScene(self):
            return self._scene

    def stored(name, default):
        """A Qt dynamic property read as an attribute (the .ui loader sets these by name)."""
        return property(lambda self: default if self.property(name) is None else self.property(name),
                        lambda self, value: self.setProperty(name, value))

    class qMRMLNodeComboBox(qt.QComboBox):
        """The real scene's nodes of ``nodeTypes`` (node ID as item data); emits ``currentNodeChanged(node)``."""

        currentNodeChanged = QtCore.Signal(object)
        connect = _connect_by_signature  # a class with signals of its own gets QObject.connect back otherwise
        nodeTypes = stored("nodeTypes", [])
        noneEnabled = stored("noneEnabled", False)
        showChildNodeTypes = stored("showChildNodeTypes", True)
        showHidden = stored("showHidden", False)
        noneDisplay = stored("noneDisplay", "None")

        def __init__(self, parent=None):
            super().__init__(parent)
            self._scene = None
            self._observations = []
            self.currentIndexChanged.connect(lambda _index: self.currentNodeChanged.emit(self.currentNode()))

        def event(self, event):
            if event.type() == QtCore.QEvent.DynamicPropertyChange:
                self._refresh()
            return super().event(event)

        def setMRMLScene(self, scene) -> None:
            for observed, tag in self._observations:
                observed.RemoveObserver(tag)
            self._scene = scene
            self._observations = [(scene, scene.AddObserver(event, lambda *_: self._refresh()))
                                  for event in (scene.NodeAddedEvent, scene.NodeRemovedEvent)] if scene else []
            self._refresh()

        def mrmlScene(self):
            return self._scene

        def nodes(self) -> list:
            if self._scene is None:
                return []
            found = []
            for index in range(self._scene.GetNumberOfNodes()):
                node = self._scene.GetNthNode(index)
                wanted = any(node.IsA(t) if self.showChildNodeTypes else node.GetClassName() == t
                             for t in self.nodeTypes)
                if wanted and (self.showHidden or not node.GetHideFromEditors()):
                    found.append(node)
            return found

        def currentNode(self):
            node_id = self.currentData
            return self._scene.GetNodeByID(node_id) if self._scene is not None and node_id else None

        def currentNodeID(self) -> str:
            return self.currentData or ""

        def setCurrentNode(self, node) -> None:
            self.setCurrentNodeID(node.GetID() if node is not None else "")

        def setCurrentNodeID(self, node_id: str) -> None:
            self.setCurrentIndex(self.findData(node_id) if node_id else (0 if self.noneEnabled else -1))

        def _refresh(self) -> None:
            current = self.currentNodeID() if self.count else ""
            self.blockSignals(True)
            self.clear()
            if self.noneEnabled:
                self.addItem(self.noneDisplay, "")
            for node in self.nodes():
                self.addItem(node.GetName(), node.GetID())
            index = self.findData(current) if current else -1
            if index < 0 and not self.noneEnabled and self.count:
                index = 0  # as Slicer's combo box: a node is selected when None is not allowed
            self.setCurrentIndex(max(index, 0) if self.count else -1)
            self.blockSignals(False)
            if self.currentNodeID() != current:
                self.currentNodeChanged.emit(self.currentNode())

    class ctkCollapsibleButton(qt.QGroupBox):
        """CTK's collapsible section, as a group box: ``text`` is its title, ``collapsed`` hides its contents."""

        text = stored("text", "")
        collapsed = stored("collapsed", False)

        def event(self, event):
            if event.type() == QtCore.QEvent.DynamicPropertyChange:
                self.setTitle(self.text)
                for child in self.findChildren(qt.QWidget):
                    child.setVisible(not self.collapsed)
            return super().event(event)

    return qMRMLWidget, qMRMLNodeComboBox, ctkCollapsibleButton


def _placeholder(name: str) -> type:
    """A CTK/qMRML class the wrapper compares widget types against; no widget of it is ever built here."""
    return type(name, (), {"__doc__": "placeholder: no such widget exists in this runtime"})


def _build_app(qt):
    from PySide6 import QtCore, QtWidgets

    class ModuleManager(QtCore.QObject):
        moduleAboutToBeUnloaded = QtCore.Signal(str)

        def connect(self, signature, slot):
            getattr(self, signature.split("(")[0]).connect(slot)

        def disconnect(self, signature, slot):
            getattr(self, signature.split("(")[0]).disconnect(slot)

    class Application(QtCore.QObject):
        """``slicer.app`` in testing mode."""

        startupCompleted = QtCore.Signal()
        applicationName = "Slicer"

        def __init__(self, qapp):
            super().__init__()
            self._qapp = qapp
            self._modules = ModuleManager()
            self.temporaryPath = tempfile.mkdtemp(prefix="slicer-runtime-")

        def connect(self, signature, slot):
            getattr(self, signature.split("(")[0]).connect(slot)

        def moduleManager(self):
            return self._modules

        def testingEnabled(self) -> bool:
            return True

        def processEvents(self) -> None:
            self._qapp.processEvents()

        def setOverrideCursor(self, cursor) -> None:
            self._qapp.setOverrideCursor(cursor)

        def restoreOverrideCursor(self) -> None:
            self._qapp.restoreOverrideCursor()

        def translate(self, context, text):
            return QtCore.QCoreApplication.translate(context, text)

        def layoutManager(self):
            return None

        def coreIOManager(self):
            return _CoreIOManager()

    qapp = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["slicer-runtime"])
    return Application(qapp)


class _CoreIOManager:
    """Slicer's file readers for the two file types the samples use, through slicer-core's own logics."""

    def fileType(self, path: str) -> str:
        return "SegmentationFile" if path.endswith(".seg.nrrd") else "VolumeFile"

    def loadNodes(self, file_type: str, properties: dict, loaded) -> bool:
        import slicer

        logics = dict((name, logic) for logic, name in slicer.mrmlScene._keep_alive[2])  # see mrml_scene.new_scene
        if file_type == "SegmentationFile":
            node = logics["Segmentations"].LoadSegmentationFromFile(properties["fileName"], False)
        else:
            node = logics["Volumes"].AddArchetypeVolume(properties["fileName"], properties.get("name", ""))
        if node is None:
            return False
        if "name" in properties:
            node.SetName(properties["name"])
        loaded.AddItem(node)
        return True


_installed = None


def install():
    """Install the runtime once per process (``qt``, ``ctk``, ``slicer.app`` …); returns the ``slicer`` module."""
    global _installed
    if _installed is not None:
        return _installed
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import slicer

    slicer.__path__.append(str(SLICER_510 / "slicer"))
    sys.path.append(str(SLICER_510 / "SampleData"))  # as Slicer puts each scripted module's folder on the path
    qt = _build_qt()
    settings_folder = tempfile.mkdtemp(prefix="slicer-runtime-settings-")
    qt.QSettings.setDefaultFormat(qt.QSettings.IniFormat)
    qt.QSettings.setPath(qt.QSettings.IniFormat, qt.QSettings.UserScope, settings_folder)
    sys.modules["qt"] = qt
    ctk = types.ModuleType("ctk")
    sys.modules["ctk"] = ctk
    qMRMLWidget, qMRMLNodeComboBox, ctkCollapsibleButton = _build_mrml_widgets(qt)
    slicer.qMRMLWidget, slicer.qMRMLNodeComboBox, ctk.ctkCollapsibleButton = (qMRMLWidget, qMRMLNodeComboBox,
                                                                            ctkCollapsibleButton)
    for name in ("ctkCheckBox", "ctkComboBox", "ctkCheckablePushButton", "ctkSliderWidget", "ctkDoubleSlider",
                 "ctkDoubleSpinBox", "ctkRangeWidget", "ctkDoubleRangeSlider", "ctkPathLineEdit",
                 "ctkDirectoryButton", "ctkColorPickerButton"):
        setattr(ctk, name, _placeholder(name))
    for name in ("qMRMLSliderWidget", "qMRMLSpinBox", "qMRMLRangeWidget"):
        setattr(slicer, name, _placeholder(name))
    slicer.app = _build_app(qt)
    slicer.modules = types.SimpleNamespace(gansynthesis=types.SimpleNamespace(path=str(MODULE_FILE)))
    _installed = slicer
    return slicer


def new_scene():
    """A fresh scene as ``slicer.mrmlScene``, with the slice views' composite nodes the application would add."""
    import slicer
    from mrml_scene import new_scene as wired_scene

    scene = wired_scene()
    cache = slicer.vtkCacheManager()
    cache.SetRemoteCacheDirectory(tempfile.mkdtemp(prefix="slicer-runtime-cache-"))
    scene.SetCacheManager(cache)
    scene._keep_alive = (*scene._keep_alive, cache)
    for layout in ("Red", "Yellow", "Green"):
        composite = scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode")
        composite.SetLayoutName(layout)
    slicer.mrmlScene = scene
    return scene


def load_module():
    """Import GANSynthesis/GANSynthesis.py as Slicer does (by path, as module ``GANSynthesis``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("GANSynthesis", MODULE_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["GANSynthesis"] = module
    spec.loader.exec_module(module)
    return module


def build_panel(module, scene):
    """The module's panel as Slicer builds it: the widget with a parent that has the scene, then ``setup()``."""
    import qt
    import slicer

    parent = slicer.qMRMLWidget()
    parent.setLayout(qt.QVBoxLayout())
    parent.setMRMLScene(scene)
    panel = module.GANSynthesisWidget(parent)
    panel.setup()
    return panel
