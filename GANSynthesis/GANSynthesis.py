"""GANSynthesis: GAN image synthesis in 3D Slicer (synthetic CT from a segmentation, and more tasks).

The module is thin: every computation lives in GANSynthesisLib (no Qt there), so the same code runs
in Slicer, on the command line, in CI and in training evaluation.
"""

import logging
import os
import sys
import threading
from typing import Annotated, Optional, Union

import qt
import slicer
import vtk
from slicer import vtkMRMLLabelMapVolumeNode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

# GANSynthesisLib is installed beside this file (module folder) or one level up (source checkout).
_here = os.path.dirname(os.path.abspath(__file__))
for _candidate in (_here, os.path.dirname(_here)):
    if os.path.isdir(os.path.join(_candidate, "GANSynthesisLib")) and _candidate not in sys.path:
        sys.path.insert(0, _candidate)
        break

NOT_USED = "(not used)"
DEVICE_CHOICES = ["auto", "cuda", "cpu"]


class GANSynthesis(ScriptedLoadableModule):
    """Module metadata."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "GAN Synthesis"
        self.parent.categories = ["Image Synthesis"]
        self.parent.dependencies = []
        self.parent.contributors = ["GANSynthesis developers"]
        self.parent.helpText = (
            "Synthesize a CT volume from a cardiac segmentation with a bundled conditional GAN (pix2pix), translate "
            "a volume to another modality (MR or low-dose CT to CT), or mark what a GAN of normal anatomy cannot "
            "explain (anomaly heatmap from an inpainting GAN or f-AnoGAN, with per-slice scores and a 'suspected "
            "anomaly' segment). "
            "Choose the task, the input and a model, then press Apply; the result is a new volume next to the "
            "input, marked as synthetic. No data at hand? 'Load a sample phantom for this model' (or Sample Data → "
            "GAN Synthesis) adds a phantom that fits. "
            "Runs on the GPU when there is one, otherwise on the CPU, and works offline. "
            "<b>Research use only, not for diagnosis.</b>"
        )
        self.parent.acknowledgementText = (
            "Built on 3D Slicer, PyTorch and SimpleITK. The pix2pix method is by Isola et al. (CVPR 2017), f-AnoGAN "
            "by Schlegl et al. (Medical Image Analysis 2019); the "
            "cardiac labels follow the MM-WHS challenge (Zhuang et al.). Bundled models were trained by the project "
            "on procedural phantoms, not on patient data."
        )
        slicer.app.connect("startupCompleted()", registerSampleData)


def registerSampleData() -> None:
    """Offer the phantoms in the Sample Data module (category 'GAN Synthesis'); they are drawn, not downloaded."""
    import SampleData
    from GANSynthesisLib.sample_data import SAMPLES

    for name, sample in SAMPLES.items():
        SampleData.SampleDataLogic.registerCustomSampleDataSource(
            category="GAN Synthesis", sampleName=name, uris=[], fileNames=[], nodeNames=[],
            thumbnailFileName=os.path.join(_here, "Resources", "Icons", sample.thumbnail),
            customDownloader=loadSampleFromSource)


def loadSampleFromSource(source) -> None:
    """Sample Data's button: draw the sample into the scene and show its first volume."""
    logic = GANSynthesisLogic()
    if not logic.ensureDependencies(confirm=slicer.util.confirmOkCancelDisplay):
        return
    with slicer.util.tryWithErrorDisplay(f"Could not load the sample {source.sampleName}.", waitCursor=True):
        nodes = logic.loadSample(source.sampleName)
        slicer.util.setSliceViewerLayers(background=nodes["ct"], fit=True)


@parameterNodeWrapper
class GANSynthesisParameterNode:
    """Module state saved in the scene."""

    task: str = "synthesize"
    model: str = ""
    inputSegmentation: Union[vtkMRMLSegmentationNode, vtkMRMLLabelMapVolumeNode]
    inputVolume: vtkMRMLScalarVolumeNode
    referenceVolume: vtkMRMLScalarVolumeNode
    outputVolume: vtkMRMLScalarVolumeNode
    device: Annotated[str, Choice(DEVICE_CHOICES)] = "auto"
    batchSize: Annotated[int, WithinRange(1, 512)] = 16
    anomalyThreshold: Annotated[float, WithinRange(0.0, 1.0)] = 0.0  # 0: the model's calibrated threshold
    evaluationSynthetic: vtkMRMLScalarVolumeNode
    evaluationReference: vtkMRMLScalarVolumeNode
    evaluationMask: vtkMRMLScalarVolumeNode


class GANSynthesisWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The panel: choices are bound to the parameter node; Apply runs the library in a worker thread."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._run = None  # (thread, cancel event, state dict) while a run is going on
        self._timer = None

    # --- set-up -------------------------------------------------------------------------------
    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/GANSynthesis.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = GANSynthesisLogic()

        from GANSynthesisLib.tasks import TASKS

        for name, task in TASKS.items():
            self.ui.taskComboBox.addItem(task.title, name)
        self.ui.deviceComboBox.clear()
        self.ui.deviceComboBox.addItems(DEVICE_CHOICES)
        self.ui.labelMappingTable.setHorizontalHeaderLabels(["Segment", "Model label"])
        self.ui.labelMappingTable.horizontalHeader().setSectionResizeMode(qt.QHeaderView.Stretch)

        self.ui.taskComboBox.connect("currentIndexChanged(int)", self.onTaskChanged)
        self.ui.modelComboBox.connect("currentIndexChanged(int)", self.onModelChanged)
        self.ui.importModelButton.connect("clicked(bool)", self.onImportModel)
        self.ui.loadSampleButton.connect("clicked(bool)", self.onLoadSample)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyOrCancel)
        self.ui.inputSegmentationSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.updateLabelMapping)
        self.ui.inputVolumeSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.refreshModels)
        self.ui.anomalyThresholdSpinBox.connect("valueChanged(double)", self.updateThresholdHint)
        self.ui.evaluateButton.connect("clicked(bool)", self.onEvaluate)
        self.ui.saveSyntheticButton.connect("clicked(bool)", self.onSaveSynthetic)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.deviceInfoLabel.text = self.logic.deviceDescription()
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.cancelRun()
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateApplyButton)

    def onSceneStartClose(self, caller, event) -> None:
        self.cancelRun()
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode: Optional[GANSynthesisParameterNode]) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateApplyButton)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateApplyButton)
            index = self.ui.taskComboBox.findData(self._parameterNode.task)
            self.ui.taskComboBox.setCurrentIndex(max(0, index))
            self.onTaskChanged()
            self.updateApplyButton()

    # --- choices ------------------------------------------------------------------------------
    def currentTask(self):
        from GANSynthesisLib.tasks import get_task

        return get_task(self.ui.taskComboBox.currentData or "synthesize")

    def onTaskChanged(self, _index=None) -> None:
        task = self.currentTask()
        if self._parameterNode:
            self._parameterNode.task = task.name
        takesLabels = task.input_kind == "labelmap"
        self.ui.inputSegmentationSelector.setVisible(takesLabels)
        self.ui.inputSegmentationLabel.setVisible(takesLabels)
        self.ui.inputVolumeSelector.setVisible(not takesLabels)
        self.ui.inputVolumeLabel.setVisible(not takesLabels)
        self.ui.referenceVolumeSelector.setVisible(takesLabels)
        self.ui.referenceVolumeLabel.setVisible(takesLabels)
        self.ui.labelMappingCollapsibleButton.setVisible(takesLabels)
        heatmap = task.output_display == "heat"
        self.ui.anomalyThresholdLabel.setVisible(heatmap)
        self.ui.anomalyThresholdSpinBox.setVisible(heatmap)
        self.ui.anomalyThresholdHintLabel.setVisible(heatmap)
        self.refreshModels()

    def refreshModels(self, _node=None) -> None:
        """List the models of the task; for a volume from DICOM, only those taking its modality."""
        wanted = self._parameterNode.model if self._parameterNode else ""
        self.ui.modelComboBox.blockSignals(True)
        self.ui.modelComboBox.clear()
        inputNode = self.inputNode() if self.currentTask().input_kind == "scalar" else None
        modality = inputNode.GetAttribute("DICOM.Modality") if inputNode else None
        for bundle in self.logic.models(self.currentTask().name, modality):
            self.ui.modelComboBox.addItem(bundle.title, bundle.name)
        self.ui.modelComboBox.blockSignals(False)
        index = self.ui.modelComboBox.findData(wanted)
        self.ui.modelComboBox.setCurrentIndex(index if index >= 0 else 0)
        self.onModelChanged()

    def currentBundle(self):
        name = self.ui.modelComboBox.currentData
        return self.logic.model(name, self.currentTask().name) if name else None

    def onModelChanged(self, _index=None) -> None:
        bundle = self.currentBundle()
        if self._parameterNode and bundle:
            self._parameterNode.model = bundle.name
        self.ui.modelCardLabel.text = self.logic.modelCard(bundle) if bundle else "No model installed for this task."
        sample = self.logic.sampleInputFor(bundle) if bundle else None
        self.ui.loadSampleButton.enabled = sample is not None
        self.ui.loadSampleButton.toolTip = (
            f"Add the {sample[0]} (a procedural phantom the models never saw) to the scene and select its "
            f"{sample[1]} as the input" if sample else "No sample fits this model's input; load a volume of your own")
        self.updateLabelMapping()
        self.updateThresholdHint()
        self.updateApplyButton()

    def onImportModel(self) -> None:
        folder = qt.QFileDialog.getExistingDirectory(self.parent, "Import model folder (model.json + .safetensors)")
        if not folder:
            return
        with slicer.util.tryWithErrorDisplay("Could not import the model.", waitCursor=True):
            bundle = self.logic.importModel(folder)
            if self._parameterNode:
                self._parameterNode.model = bundle.name
            self.refreshModels()
            self.ui.statusLabel.text = f"Imported model {bundle.name}."

    def onLoadSample(self) -> None:
        """Draw the phantom that fits the chosen model, select it as the input, and its CT as the reference grid and
        evaluation reference where that applies."""
        if not self.logic.ensureDependencies(confirm=slicer.util.confirmOkCancelDisplay):
            return
        with slicer.util.tryWithErrorDisplay("Could not load the sample.", waitCursor=True):
            inputNode, nodes = self.logic.loadSampleInput(self.currentBundle())
            takesLabels = self.currentTask().input_kind == "labelmap"
            selector = self.ui.inputSegmentationSelector if takesLabels else self.ui.inputVolumeSelector
            selector.setCurrentNode(inputNode)
            if takesLabels:  # the synthetic CT takes the phantom CT's grid, so the two can be compared
                self.ui.referenceVolumeSelector.setCurrentNode(nodes["ct"])
            if self.currentTask().output_display != "heat" and inputNode.GetID() != nodes["ct"].GetID():
                self.ui.evaluationReferenceSelector.setCurrentNode(nodes["ct"])
            slicer.util.setSliceViewerLayers(background=nodes["ct"] if takesLabels else inputNode, fit=True)
            self.ui.statusLabel.text = f"Loaded {inputNode.GetName()}; press Apply."

    def updateThresholdHint(self, _value=None) -> None:
        """Under the threshold box: what the chosen threshold marks, for the current anomaly model."""
        bundle = self.currentBundle()
        self.ui.anomalyThresholdHintLabel.text = (
            self.logic.thresholdHint(bundle, self.ui.anomalyThresholdSpinBox.value)
            if bundle is not None and bundle.task == "anomaly" else "")

    def updateLabelMapping(self, _node=None) -> None:
        """Fill the table: one row per segment, with the model label it goes to (editable)."""
        table = self.ui.labelMappingTable
        table.setRowCount(0)
        segmentation = self.ui.inputSegmentationSelector.currentNode()
        bundle = self.currentBundle()
        if not bundle or segmentation is None or not segmentation.IsA("vtkMRMLSegmentationNode"):
            return
        labels = list(bundle.manifest["input"]["labels"])
        for row, match in enumerate(self.logic.matchSegments(segmentation, bundle)):
            table.insertRow(row)
            item = qt.QTableWidgetItem(match.segment_name)
            item.setData(qt.Qt.UserRole, match.segment_id)
            table.setItem(row, 0, item)
            combo = qt.QComboBox()
            combo.addItems([NOT_USED] + labels)
            combo.setCurrentText(match.model_label or NOT_USED)
            table.setCellWidget(row, 1, combo)

    def segmentMapping(self) -> dict:
        table = self.ui.labelMappingTable
        mapping = {}
        for row in range(table.rowCount):
            label = table.cellWidget(row, 1).currentText
            mapping[table.item(row, 0).data(qt.Qt.UserRole)] = "" if label == NOT_USED else label
        return mapping

    def inputNode(self):
        if self.currentTask().input_kind == "labelmap":
            return self.ui.inputSegmentationSelector.currentNode()
        return self.ui.inputVolumeSelector.currentNode()

    def updateApplyButton(self, caller=None, event=None) -> None:
        if self._run:
            return
        ready = self.inputNode() is not None and self.currentBundle() is not None
        self.ui.applyButton.enabled = ready
        self.ui.applyButton.toolTip = "Run the model" if ready else "Select an input and a model first"

    # --- running ------------------------------------------------------------------------------
    def onApplyOrCancel(self) -> None:
        if self._run:
            self.cancelRun()
            return
        if not self.logic.ensureDependencies(confirm=slicer.util.confirmOkCancelDisplay):
            return
        with slicer.util.tryWithErrorDisplay("GANSynthesis could not start.", waitCursor=True):
            mapping = self.segmentMapping() if self.currentTask().input_kind == "labelmap" else None
            prepared = self.logic.prepare(self.currentTask().name, self.inputNode(), self.currentBundle(),
                                          self.ui.referenceVolumeSelector.currentNode(),
                                          self.ui.outputSelector.currentNode(), mapping)
            if prepared.task.output_display == "heat" and self._parameterNode.anomalyThreshold > 0:
                prepared.inputs["threshold"] = self._parameterNode.anomalyThreshold
            self.startRun(prepared)

    def startRun(self, prepared) -> None:
        cancel = threading.Event()
        state = {"fraction": 0.0, "message": "starting", "result": None, "error": None}

        def progress(fraction, message):
            state["fraction"], state["message"] = fraction, message

        def work():
            try:
                state["result"] = self.logic.compute(prepared, self._parameterNode.device, self._parameterNode.batchSize,
                                                     progress, cancel.is_set)
            except Exception as error:  # reported on the main thread
                state["error"] = error

        thread = threading.Thread(target=work, name="GANSynthesis", daemon=True)
        self._run = (thread, cancel, state, prepared)
        self.ui.applyButton.text = "Cancel"
        self.ui.progressBar.value = 0
        self.ui.progressBar.setVisible(True)
        self.ui.statusLabel.text = f"Running {prepared.bundle.name} …"
        self._timer = qt.QTimer()
        self._timer.setInterval(100)
        self._timer.connect("timeout()", self.pollRun)
        thread.start()
        self._timer.start()

    def pollRun(self) -> None:
        thread, cancel, state, prepared = self._run
        self.ui.progressBar.value = int(100 * state["fraction"])
        self.ui.statusLabel.text = f"{prepared.bundle.name}: {state['message']}"
        if thread.is_alive():
            return
        self._timer.stop()
        self._run = None
        self.ui.applyButton.text = "Apply"
        self.ui.progressBar.setVisible(False)
        error = state["error"]
        if error is not None:
            from GANSynthesisLib.errors import CancelledError, GANSynthesisError

            if isinstance(error, CancelledError):
                self.ui.statusLabel.text = "Cancelled; the scene is unchanged."
            else:
                logging.error("GANSynthesis failed", exc_info=error)
                message = str(error) if isinstance(error, GANSynthesisError) else f"Unexpected error: {error}"
                self.ui.statusLabel.text = "Failed: " + message
                slicer.util.errorDisplay(message, windowTitle="GANSynthesis")
        else:
            with slicer.util.tryWithErrorDisplay("Could not add the result to the scene."):
                result = state["result"]
                output = self.logic.publish(prepared, result)
                self.logic.showResult(prepared, output)
                self.ui.evaluationSyntheticSelector.setCurrentNode(output)
                self.ui.statusLabel.text = f"Done: {output.GetName()} (synthetic, research use only)."
                if "volume_score" in result.summary:
                    self.ui.statusLabel.text += (f" Anomaly score {result.summary['volume_score']:.3g}; suspected "
                                                 f"{result.summary['suspected_ml']:.1f} ml at "
                                                 f"{self.logic.thresholdText(result.summary)}.")
                for warning in result.warnings:
                    logging.warning(warning)
                    self.ui.statusLabel.text += " Warning: " + warning
        self.updateApplyButton()

    def onEvaluate(self) -> None:
        with slicer.util.tryWithErrorDisplay("Could not evaluate.", waitCursor=True):
            metrics, errorMap = self.logic.evaluate(self.ui.evaluationSyntheticSelector.currentNode(),
                                                    self.ui.evaluationReferenceSelector.currentNode(),
                                                    self.ui.evaluationMaskSelector.currentNode())
            self.ui.evaluationResultLabel.text = (
                f"MAE {metrics['mae']:.1f} HU, PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.3f} "
                f"over {metrics['mask_voxels']} voxels; error map: {errorMap.GetName()}")
            slicer.util.setSliceViewerLayers(foreground=errorMap, foregroundOpacity=0.6)

    def onSaveSynthetic(self) -> None:
        node = self.ui.evaluationSyntheticSelector.currentNode()
        if node is None:
            slicer.util.errorDisplay("Select the synthetic volume to save first.", windowTitle="GANSynthesis")
            return
        path = qt.QFileDialog.getSaveFileName(self.parent, "Save synthetic volume", f"{node.GetName()}.nrrd",
                                              "Images (*.nrrd *.nii.gz *.nii *.mha)")
        if not path:
            return
        with slicer.util.tryWithErrorDisplay("Could not save the volume.", waitCursor=True):
            self.ui.evaluationResultLabel.text = f"Saved {self.logic.exportVolume(node, path)} with its provenance."

    def cancelRun(self) -> None:
        if self._run:
            self._run[1].set()
            self.ui.statusLabel.text = "Cancelling …"


class GANSynthesisLogic(ScriptedLoadableModuleLogic):
    """Thin layer over GANSynthesisLib; no Qt, usable from the Python console and tests."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        return GANSynthesisParameterNode(super().getParameterNode())

    def models(self, task, modality=None):
        from GANSynthesisLib.registry import list_models

        return list_models(task, modality=modality)

    def model(self, name, task):
        from GANSynthesisLib.registry import find_model

        return find_model(name, task)

    def modelCard(self, bundle) -> str:
        from GANSynthesisLib.cards import model_card_html

        return model_card_html(bundle)

    def thresholdHint(self, bundle, threshold) -> str:
        from GANSynthesisLib.thresholds import threshold_hint

        return threshold_hint(bundle.manifest, threshold)

    def thresholdText(self, summary) -> str:
        from GANSynthesisLib.thresholds import threshold_text

        return threshold_text(summary)

    def importModel(self, folder):
        from GANSynthesisLib.registry import import_model_folder

        return import_model_folder(folder)

    def matchSegments(self, segmentationNode, bundle):
        from GANSynthesisLib.mrml import match_segments

        return match_segments(segmentationNode, bundle.manifest["input"]["labels"])

    def loadSample(self, name):
        """Draw a sample phantom into the scene; returns its nodes by role ('ct', 'mr', 'segmentation')."""
        from GANSynthesisLib.sample_data import load_sample

        return load_sample(slicer.mrmlScene, name)

    def sampleInputFor(self, bundle):
        """(sample name, node role) of the sample that fits the model's input, or None."""
        from GANSynthesisLib.sample_data import sample_input_for

        return sample_input_for(bundle)

    def loadSampleInput(self, bundle):
        """Draw the sample that fits the model's input; returns (the input node, all its nodes by role)."""
        from GANSynthesisLib.sample_data import load_sample_input

        return load_sample_input(slicer.mrmlScene, bundle)

    def deviceDescription(self) -> str:
        try:
            from GANSynthesisLib.devices import describe_devices
        except ImportError:
            return "PyTorch is not installed yet; it is installed when you first press Apply."
        return "; ".join(describe_devices())

    def ensureDependencies(self, confirm=None) -> bool:
        """Install what is missing, once: torch via the PyTorch extension, the rest with pip.

        ``confirm(message) -> bool`` asks the user (the widget passes a dialog); None installs without asking.
        """
        from GANSynthesisLib.dependencies import missing_pip_packages, pip_requirements, torch_missing

        if torch_missing():
            import PyTorchUtils

            torchLogic = PyTorchUtils.PyTorchUtilsLogic()
            if torchLogic.installTorch(askConfirmation=confirm is not None, torchVersionRequirement=">=2.2") is None:
                return False
        missing = missing_pip_packages()
        if missing:
            message = (f"GANSynthesis needs these Python packages: {', '.join(missing)}. Install them now? "
                       "(Slicer's own numpy, SimpleITK and VTK are kept as they are.)")
            if confirm is not None and not confirm(message):
                return False
            slicer.util.pip_install(" ".join(pip_requirements(missing)))
        return True

    def prepare(self, task, inputNode, model=None, referenceVolumeNode=None, outputNode=None, segmentMapping=None):
        from GANSynthesisLib import api

        return api.prepare(task, inputNode, model, referenceVolumeNode, outputNode, segmentMapping)

    def compute(self, prepared, device="auto", batchSize=16, progress=None, cancel=None):
        from GANSynthesisLib import api
        from GANSynthesisLib.inference import InferenceOptions

        return api.compute(prepared, InferenceOptions(device=device, batch_size=batchSize, progress=progress,
                                                      cancel=cancel))

    def publish(self, prepared, result):
        from GANSynthesisLib import api

        return api.publish(prepared, result)

    def process(self, task, inputNode, model=None, referenceVolumeNode=None, outputNode=None, device="auto"):
        """Run a whole task synchronously (for scripts); returns the output node."""
        from GANSynthesisLib import api

        return api.run_task(task, inputNode, model, referenceVolumeNode, outputNode, device=device)

    def evaluate(self, syntheticNode, referenceNode, maskNode=None):
        """SynthRAD2023 metrics and an error-map volume node."""
        from GANSynthesisLib import api

        return api.evaluate(syntheticNode, referenceNode, maskNode)

    def exportVolume(self, node, path):
        """Write the volume node to ``path`` (replacing it) with its GANSynthesis provenance in the header."""
        from GANSynthesisLib import api

        return api.export_volume(node, path, overwrite=True)

    def showResult(self, prepared, outputNode) -> None:
        """Synthetic images as background with the input segmentation on top; heatmaps as a foreground overlay,
        with their per-slice score chart in the layout."""
        if prepared.task.output_display == "heat":
            from GANSynthesisLib import api

            slicer.util.setSliceViewerLayers(background=prepared.input_node, foreground=outputNode,
                                             foregroundOpacity=0.5, fit=True)
            chart = api.related_node(outputNode, "chart")
            if chart is not None:
                slicer.modules.plots.logic().ShowChartInLayout(chart)
        else:
            slicer.util.setSliceViewerLayers(background=outputNode, foreground=None, fit=True)
            displayNode = prepared.input_node.GetDisplayNode()
            if displayNode and prepared.input_node.IsA("vtkMRMLSegmentationNode"):
                displayNode.SetVisibility(True)


class GANSynthesisTest(ScriptedLoadableModuleTest):
    """Self-test inside Slicer: a phantom segmentation → synthetic CT, and a lesion phantom → anomaly heatmap,
    with the bundled models."""

    def setUp(self) -> None:
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:
        self.setUp()
        self.test_SynthesizeFromPhantomSegmentation()
        self.setUp()
        self.test_AnomalyHeatmapOnLesionPhantom()

    def test_SynthesizeFromPhantomSegmentation(self) -> None:
        import numpy as np

        from GANSynthesisLib.sample_data import heart_case

        self.delayDisplay("Loading the heart phantom sample")
        logic = GANSynthesisLogic()
        nodes = logic.loadSample("GAN heart phantom")

        self.delayDisplay("Synthesizing CT")
        output = logic.process("synthesize", nodes["segmentation"], referenceVolumeNode=nodes["ct"], device="cpu")
        ct = slicer.util.arrayFromVolume(output)
        labels = heart_case().segmentation[1].array
        self.assertEqual(output.GetAttribute("GANSynthesis.Synthetic"), "true")
        self.assertEqual(ct.shape, labels.shape)
        self.assertTrue(np.isfinite(ct).all())
        self.assertGreater(ct[labels == 500].mean(), ct[labels == 205].mean() + 100)
        self.delayDisplay("Test passed")

    def test_AnomalyHeatmapOnLesionPhantom(self) -> None:
        from GANSynthesisLib import api

        self.delayDisplay("Loading the lesion phantom sample")
        logic = GANSynthesisLogic()
        nodes = logic.loadSample("GAN lesion phantom")

        self.delayDisplay("Computing the anomaly heatmap")
        heat = logic.process("anomaly", nodes["ct"], device="cpu")
        shape = slicer.util.arrayFromVolume(nodes["ct"]).shape
        self.assertEqual(heat.GetAttribute("GANSynthesis.Synthetic"), "true")
        self.assertEqual(slicer.util.arrayFromVolume(heat).shape, shape)
        table = api.related_node(heat, "table")
        self.assertEqual(table.GetNumberOfRows(), shape[0])
        self.assertIsNotNone(api.related_node(heat, "chart"))
        self.assertIsNotNone(api.related_node(heat, "segmentation"))
        self.delayDisplay("Test passed")
