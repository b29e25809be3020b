"""GANSynthesis: GAN image synthesis in 3D Slicer (synthetic CT from a segmentation, modality translation, anomaly
heatmaps).

The module only shows and records: every computation lives in GANSynthesisLib (no Qt there). Apply runs the model in
a child Python process (GANSynthesisLib.slicer.worker), so Slicer's main thread, which holds the GIL while Qt's
event loop runs, stays free, and the GPU memory is returned when the child exits.
"""

import logging
import os
import shutil
import sys
import unittest
from typing import Annotated, Optional, Union

import qt
import slicer
import vtk
from slicer import vtkMRMLLabelMapVolumeNode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.i18n import tr as _
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

from GANSynthesisLib.core.devices import DEVICE_CHOICES  # noqa: E402  (needs no torch)
from GANSynthesisLib.core.errors import GANSynthesisError  # noqa: E402
from GANSynthesisLib.tasks.catalogue import TASKS  # noqa: E402
from GANSynthesisLib.tasks.synthesis.contrast_phases import (DEFAULT_PHASE, LEVEL_KEY, LEVEL_RANGE,  # noqa: E402
                                                             MODEL_PHASE, PHASES, describe_level, parse_contrast)

NOT_USED = "(not used)"
CUSTOM_PHASE = "custom"  # the contrast phase whose blood HU the panel's spin box gives
CONTRAST_CHOICES = [*PHASES, MODEL_PHASE, CUSTOM_PHASE]
POLL_INTERVAL_MS = 100
GENERATION_POLL_MS = 500


class GANSynthesis(ScriptedLoadableModule):
    """Module metadata."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("GAN Synthesis")
        self.parent.categories = [_("Image Synthesis")]
        self.parent.dependencies = []
        self.parent.contributors = ["GANSynthesis developers"]
        self.parent.helpText = _(
            "Synthesize a CT volume from a segmentation (whole-body, e.g. TotalSegmentator's, or cardiac) with a "
            "bundled conditional GAN (pix2pix) at the contrast phase you choose, translate "
            "a volume to another modality (MR or low-dose CT to CT), or mark what a GAN of normal anatomy cannot "
            "explain (anomaly heatmap, with per-slice scores and a 'suspected anomaly' segment). "
            "Choose the task, the input and a model, then press Apply; the result is a new volume next to the "
            "input, marked as synthetic. No data at hand? 'Load a sample phantom for this model' (or Sample Data "
            "→ GAN Synthesis) adds a phantom that fits. "
            "The model runs in a separate process, on the GPU when there is one, otherwise on the CPU, offline. "
            "<b>Research use only, not for diagnosis.</b>")
        self.parent.acknowledgementText = _(
            "Built on 3D Slicer, PyTorch and SimpleITK. The pix2pix method is by Isola et al. (CVPR 2017), f-AnoGAN "
            "by Schlegl et al. (Medical Image Analysis 2019); the cardiac labels follow the MM-WHS challenge "
            "(Zhuang et al.). Bundled models were trained by the project on procedural phantoms, not on patient "
            "data.")
        slicer.app.connect("startupCompleted()", registerSampleData)


SAMPLE_URL_PREFIX = "gansynthesis-sample:"  # <sample name>/<role>: drawn on request, never downloaded
SAMPLE_FILE_SUFFIXES = {"ct": ".nrrd", "mr": ".nrrd", "ct_low_dose": ".nrrd", "segmentation": ".seg.nrrd"}
SAMPLE_FILE_TYPES = {"ct": "VolumeFile", "mr": "VolumeFile", "ct_low_dose": "VolumeFile",
                     "segmentation": "SegmentationFile"}


def registerSampleData() -> None:
    """Offer the phantoms in the Sample Data module (category 'GAN Synthesis').

    Its button calls :func:`loadSampleFromSource`. ``SampleData.downloadSample(name)`` from a script takes the
    sources' URLs instead; the rewrite rule :func:`sampleUrlToFile` draws the phantom's files into Sample Data's
    cache, from which Slicer loads them as any sample.
    """
    import SampleData

    from GANSynthesisLib.slicer.sample_data import SAMPLES

    for name, sample in SAMPLES.items():
        roles = list(sample.node_names)
        SampleData.SampleDataLogic.registerCustomSampleDataSource(
            category="GAN Synthesis", sampleName=name,
            uris=[f"{SAMPLE_URL_PREFIX}{name}/{role}" for role in roles],
            fileNames=[sampleFileName(name, role) for role in roles],
            nodeNames=[sample.node_names[role] for role in roles],
            loadFileTypes=[SAMPLE_FILE_TYPES[role] for role in roles],
            thumbnailFileName=os.path.join(_here, "Resources", "Icons", sample.thumbnail),
            customDownloader=loadSampleFromSource)
    SampleData.SampleDataLogic.registerUrlRewriteRule("GANSynthesis", sampleUrlToFile)


def sampleFileName(name: str, role: str) -> str:
    return f"GANSynthesis {name} {role}{SAMPLE_FILE_SUFFIXES[role]}"


def sampleUrlToFile(url: str) -> str:
    """Sample Data's URL rewrite rule: for a GANSynthesis sample URL, draw the sample into Sample Data's cache
    folder (unless it is there), where Sample Data then finds the file and loads it; other URLs pass unchanged."""
    if url.startswith(SAMPLE_URL_PREFIX):
        name, role = url[len(SAMPLE_URL_PREFIX):].rsplit("/", 1)
        folder = slicer.mrmlScene.GetCacheManager().GetRemoteCacheDirectory()
        if not os.path.isfile(os.path.join(folder, sampleFileName(name, role))):
            writeSampleFiles(name, folder)
    return url


def writeSampleFiles(name: str, folder: str) -> None:
    """Draw a sample in a scene of its own and write each node with MRML's own storage nodes."""
    from GANSynthesisLib.slicer.sample_data import load_sample

    os.makedirs(folder, exist_ok=True)
    scene = slicer.vtkMRMLScene()
    for role, node in load_sample(scene, name).items():
        storage = node.CreateDefaultStorageNode()
        storage.SetFileName(os.path.join(folder, sampleFileName(name, role)))
        if not storage.WriteData(node):
            raise GANSynthesisError(f"Could not write the sample file {storage.GetFileName()}.")


def loadSampleFromSource(source) -> None:
    """Sample Data's button: draw the sample into the scene and show its CT."""
    with slicer.util.tryWithErrorDisplay(_("Could not load the sample {name}.").format(name=source.sampleName),
                                         waitCursor=True):
        logic = GANSynthesisLogic()
        nodes = logic.loadSample(source.sampleName)
        logic.show(nodes["ct"])


@parameterNodeWrapper
class GANSynthesisParameterNode:
    """Module state saved in the scene."""

    task: Annotated[str, Choice(list(TASKS))] = "synthesize"
    model: str = ""
    inputSegmentation: Union[vtkMRMLSegmentationNode, vtkMRMLLabelMapVolumeNode, None]
    inputVolume: Optional[vtkMRMLScalarVolumeNode]
    referenceVolume: Optional[vtkMRMLScalarVolumeNode]
    outputVolume: Optional[vtkMRMLScalarVolumeNode]
    device: Annotated[str, Choice(list(DEVICE_CHOICES))] = "auto"
    batchSize: Annotated[int, WithinRange(1, 512)] = 16
    anomalyThreshold: Annotated[float, WithinRange(0.0, 1.0)] = 0.0  # 0: the model's calibrated threshold
    contrastPhase: Annotated[str, Choice(CONTRAST_CHOICES)] = DEFAULT_PHASE  # blood HU of synthetic CTs
    contrastHU: Annotated[float, WithinRange(*LEVEL_RANGE)] = PHASES[DEFAULT_PHASE]  # when contrastPhase is custom
    evaluationSynthetic: Optional[vtkMRMLScalarVolumeNode]
    evaluationReference: Optional[vtkMRMLScalarVolumeNode]
    evaluationMask: Optional[vtkMRMLScalarVolumeNode]


class GANSynthesisWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The panel: choices are bound to the parameter node; Apply runs the model in a child process."""

    def __init__(self, parent=None) -> None:
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._run = None  # (ChildRun, PreparedRun) while a model runs
        self._timer = None
        self._generation = None  # CommandRun while a dataset is generated
        self._generationTimer = None
        VTKObservationMixin.__init__(self)
        ScriptedLoadableModuleWidget.__init__(self, parent)  # without a parent it calls setup() at once

    # --- set-up -------------------------------------------------------------------------------
    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/GANSynthesis.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = GANSynthesisLogic()

        for name, task in TASKS.items():
            self.ui.taskComboBox.addItem(task.title, name)
        self.ui.labelMappingTable.setHorizontalHeaderLabels([_("Segment"), _("Model label")])
        self.ui.labelMappingTable.horizontalHeader().setSectionResizeMode(qt.QHeaderView.Stretch)
        self.ui.deviceInfoLabel.text = _("The model runs in a process of its own; 'auto' takes the GPU when PyTorch "
                                         "finds one there.")

        # signatures spelled out, as Slicer's template does: these signals have overloads in PythonQt
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
        self.ui.datasetBrowseButton.connect("clicked(bool)", lambda _c=False: self.choosePath(
            self.ui.datasetPathLineEdit, _("Synthetic dataset folder")))
        self.ui.referencesBrowseButton.connect("clicked(bool)", lambda _c=False: self.choosePath(
            self.ui.referencesPathLineEdit, _("Folder of real images")))
        self.ui.generateSourceBrowseButton.connect("clicked(bool)", lambda _c=False: self.choosePath(
            self.ui.generateSourceLineEdit, _("Folder of label maps")))
        self.ui.generateButton.connect("clicked(bool)", self.onGenerateOrCancel)
        self.ui.reviewDatasetButton.connect("clicked(bool)", self.onReviewDataset)
        self.ui.previousCaseButton.connect("clicked(bool)", lambda _c=False: self.showReviewCase(-1))
        self.ui.nextCaseButton.connect("clicked(bool)", lambda _c=False: self.showReviewCase(+1))
        self.ui.acceptCaseButton.connect("clicked(bool)", lambda _c=False: self.onDecideCase(True))
        self.ui.rejectCaseButton.connect("clicked(bool)", lambda _c=False: self.onDecideCase(False))
        self.ui.startReadingButton.connect("clicked(bool)", self.onStartReading)
        self.ui.answerRealButton.connect("clicked(bool)", lambda _c=False: self.onAnswer("real"))
        self.ui.answerSyntheticButton.connect("clicked(bool)", lambda _c=False: self.onAnswer("synthetic"))
        self.ui.readingResultButton.connect("clicked(bool)", self.onReadingResult)
        self._review = None  # DatasetReview while a dataset is reviewed
        self._reading = None  # BlindedReadingInScene while a reading goes on
        self.updateDatasetButtons()

        self._timer = qt.QTimer()
        self._timer.setInterval(POLL_INTERVAL_MS)
        self._timer.timeout.connect(self.pollRun)
        self._generationTimer = qt.QTimer()
        self._generationTimer.setInterval(GENERATION_POLL_MS)
        self._generationTimer.timeout.connect(self.pollGeneration)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        """Called before the module is unloaded or reloaded: ends a run, stops the timer, lets go of the scene."""
        self.cancelRun()
        self.cancelGeneration()
        if self._timer is not None:
            self._timer.stop()
            self._timer.timeout.disconnect(self.pollRun)
            self._timer = None
        if self._generationTimer is not None:
            self._generationTimer.timeout.disconnect(self.pollGeneration)
            self._generationTimer = None
        self.setParameterNode(None)
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        self.setParameterNode(None)

    def onSceneStartClose(self, caller, event) -> None:
        self.cancelRun()
        self.setParameterNode(None)
        self._review = self._reading = None  # their nodes go with the scene; decisions and answers are on disk
        self.updateDatasetButtons()

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode: Optional[GANSynthesisParameterNode]) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateApplyButton)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # the saved task first: connecting the node selectors lists the models of the task shown
            self.ui.taskComboBox.blockSignals(True)
            self.ui.taskComboBox.setCurrentIndex(max(0, self.ui.taskComboBox.findData(self._parameterNode.task)))
            self.ui.taskComboBox.blockSignals(False)
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateApplyButton)
            self.onTaskChanged()

    # --- choices ------------------------------------------------------------------------------
    def currentTask(self):
        return TASKS[self.ui.taskComboBox.currentData or "synthesize"]

    def onTaskChanged(self, _index=None) -> None:
        task = self.currentTask()
        if self._parameterNode:
            self._parameterNode.task = task.name
        takesLabels = task.input_kind == "labelmap"
        for widget in (self.ui.inputSegmentationSelector, self.ui.inputSegmentationLabel,
                       self.ui.referenceVolumeSelector, self.ui.referenceVolumeLabel,
                       self.ui.labelMappingCollapsibleButton):
            widget.setVisible(takesLabels)
        for widget in (self.ui.inputVolumeSelector, self.ui.inputVolumeLabel):
            widget.setVisible(not takesLabels)
        heatmap = task.output_display == "heat"
        for widget in (self.ui.anomalyThresholdLabel, self.ui.anomalyThresholdSpinBox,
                       self.ui.anomalyThresholdHintLabel):
            widget.setVisible(heatmap)
        for widget in (self.ui.contrastPhaseLabel, self.ui.contrastPhaseComboBox, self.ui.contrastHULabel,
                       self.ui.contrastHUSpinBox):
            widget.setVisible(task.name == "synthesize")
        self.refreshModels()

    def inputNode(self):
        if self.currentTask().input_kind == "labelmap":
            return self.ui.inputSegmentationSelector.currentNode()
        return self.ui.inputVolumeSelector.currentNode()

    def refreshModels(self, _node=None) -> None:
        """List the models of the task; for a volume from DICOM, only those taking its modality."""
        wanted = self._parameterNode.model if self._parameterNode else ""
        inputNode = self.inputNode() if self.currentTask().input_kind == "scalar" else None
        modality = inputNode.GetAttribute("DICOM.Modality") if inputNode else None
        self.ui.modelComboBox.blockSignals(True)
        self.ui.modelComboBox.clear()
        for bundle in self.logic.models(self.currentTask().name, modality):
            self.ui.modelComboBox.addItem(bundle.title, bundle.name)
        self.ui.modelComboBox.blockSignals(False)
        index = self.ui.modelComboBox.findData(wanted)
        self.ui.modelComboBox.setCurrentIndex(index if index >= 0 else 0)
        self.onModelChanged()

    def currentBundle(self):
        return self.logic.model(self.ui.modelComboBox.currentData, self.currentTask().name)

    def onModelChanged(self, _index=None) -> None:
        from GANSynthesisLib.slicer.sample_data import sample_input_for
        from GANSynthesisLib.tasks.model_cards import model_card_html

        bundle = self.currentBundle()
        if self._parameterNode and bundle:
            self._parameterNode.model = bundle.name
        self.ui.modelCardLabel.text = model_card_html(bundle) if bundle else _("No model installed for this task.")
        sample = sample_input_for(bundle) if bundle else None
        self.ui.loadSampleButton.enabled = sample is not None
        self.ui.loadSampleButton.toolTip = (
            _("Add the {sample} (a procedural phantom the models never saw) to the scene and select its {role} as "
              "the input").format(sample=sample[0], role=sample[1]) if sample
            else _("No sample fits this model's input; load a volume of your own"))
        self.updateLabelMapping()
        self.updateThresholdHint()
        self.updateApplyButton()

    def onImportModel(self) -> None:
        folder = qt.QFileDialog.getExistingDirectory(self.parent, _("Import model folder (model.json + .safetensors)"))
        if not folder:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not import the model."), waitCursor=True):
            bundle = self.logic.importModel(folder)
            if self._parameterNode:
                self._parameterNode.model = bundle.name
            self.refreshModels()
            self.ui.statusLabel.text = _("Imported model {name}.").format(name=bundle.name)

    def onLoadSample(self) -> None:
        """Draw the phantom that fits the chosen model and select it as the input (and its CT as the reference grid
        and evaluation reference where that applies)."""
        with slicer.util.tryWithErrorDisplay(_("Could not load the sample."), waitCursor=True):
            inputNode, nodes = self.logic.loadSampleInput(self.currentBundle())
            takesLabels = self.currentTask().input_kind == "labelmap"
            selector = self.ui.inputSegmentationSelector if takesLabels else self.ui.inputVolumeSelector
            selector.setCurrentNode(inputNode)
            if takesLabels:  # the synthetic CT takes the phantom CT's grid, so the two can be compared
                self.ui.referenceVolumeSelector.setCurrentNode(nodes["ct"])
            if self.currentTask().output_display != "heat" and inputNode.GetID() != nodes["ct"].GetID():
                self.ui.evaluationReferenceSelector.setCurrentNode(nodes["ct"])
            self.updateLabelMapping()  # the selector may have picked the node up before its segments were added
            self.logic.show(nodes["ct"] if takesLabels else inputNode)
            self.ui.statusLabel.text = _("Loaded {name}; press Apply.").format(name=inputNode.GetName())

    def updateThresholdHint(self, _value=None) -> None:
        """Under the threshold box: what the chosen threshold marks, for the current anomaly model."""
        from GANSynthesisLib.tasks.anomaly.thresholds import threshold_hint

        bundle = self.currentBundle()
        self.ui.anomalyThresholdHintLabel.text = (
            threshold_hint(bundle.manifest, self.ui.anomalyThresholdSpinBox.value)
            if bundle is not None and bundle.task == "anomaly" else "")

    def updateLabelMapping(self, _node=None) -> None:
        """Fill the table: one row per segment, with the model label it goes to (editable)."""
        from GANSynthesisLib.slicer.mrml import match_segments

        table = self.ui.labelMappingTable
        table.setRowCount(0)
        segmentation = self.ui.inputSegmentationSelector.currentNode()
        bundle = self.currentBundle()
        if (self.currentTask().input_kind != "labelmap" or bundle is None or bundle.manifest.input.labels is None
                or segmentation is None or not segmentation.IsA("vtkMRMLSegmentationNode")):
            return
        labels = bundle.manifest.input.labels
        for row, match in enumerate(match_segments(segmentation, labels)):
            table.insertRow(row)
            item = qt.QTableWidgetItem(match.segment_name)
            item.setData(qt.Qt.UserRole, match.segment_id)
            table.setItem(row, 0, item)
            combo = qt.QComboBox()
            combo.addItems([NOT_USED, *labels])
            combo.setCurrentText(match.model_label or NOT_USED)
            table.setCellWidget(row, 1, combo)

    def segmentMapping(self) -> dict:
        table = self.ui.labelMappingTable
        mapping = {}
        for row in range(table.rowCount):
            label = table.cellWidget(row, 1).currentText
            mapping[table.item(row, 0).data(qt.Qt.UserRole)] = "" if label == NOT_USED else label
        return mapping

    def updateApplyButton(self, caller=None, event=None) -> None:
        if self._parameterNode:
            self.ui.contrastHUSpinBox.enabled = self._parameterNode.contrastPhase == CUSTOM_PHASE
        if self._run:
            return
        ready = self.inputNode() is not None and self.currentBundle() is not None
        self.ui.applyButton.text = _("Apply")
        self.ui.applyButton.enabled = ready
        self.ui.applyButton.toolTip = _("Run the model") if ready else _("Select an input and a model first")

    # --- running ------------------------------------------------------------------------------
    def onApplyOrCancel(self) -> None:
        if self._run:
            self.cancelRun()
            self.ui.statusLabel.text = _("Cancelled; the scene is unchanged.")
            return
        with slicer.util.tryWithErrorDisplay(_("GANSynthesis could not start."), waitCursor=True):
            self.logic.ensureDependencies(confirm=slicer.util.confirmOkCancelDisplay)
            mapping = self.segmentMapping() if self.currentTask().input_kind == "labelmap" else None
            prepared = self.logic.prepare(self._parameterNode, self.inputNode(), self.currentBundle(), mapping)
            child = self.logic.start(prepared, self._parameterNode.device, self._parameterNode.batchSize)
            self._run = (child, prepared)
            self.ui.applyButton.text = _("Cancel")
            self.ui.applyButton.toolTip = _("Stop the model; nothing is added to the scene")
            self.ui.progressBar.value = 0
            self.ui.progressBar.setVisible(True)
            self.ui.statusLabel.text = _("Running {model} …").format(model=prepared.bundle.name)
            self._timer.start()

    def pollRun(self) -> None:
        """Timer tick: show the child's progress; once it has ended, publish its result or show its error."""
        child, prepared = self._run
        status = child.poll()
        self.ui.progressBar.value = int(100 * status.fraction)
        self.ui.statusLabel.text = f"{prepared.bundle.name}: {status.message}"
        if status.device:
            self.ui.deviceInfoLabel.text = _("Last run: {device}").format(device=status.device)
        if not status.finished:
            return
        self._endRun()
        if status.error is not None:
            self.ui.statusLabel.text = _("Failed: {error}").format(error=status.error)
            slicer.util.errorDisplay(status.error, windowTitle="GANSynthesis")
            return
        with slicer.util.tryWithErrorDisplay(_("Could not add the result to the scene.")):
            output, result = self.logic.publish(prepared, child)
            self.ui.evaluationSyntheticSelector.setCurrentNode(output)
            self.ui.statusLabel.text = self.logic.resultText(output, result)

    def cancelRun(self) -> None:
        """End the child process (within a second); nothing is added to the scene."""
        if self._run:
            self._run[0].cancel()
            self._endRun()

    def _endRun(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._run = None
        self.ui.progressBar.setVisible(False)
        self.updateApplyButton()

    # --- evaluation ---------------------------------------------------------------------------
    def onEvaluate(self) -> None:
        from GANSynthesisLib.slicer import api

        with slicer.util.tryWithErrorDisplay(_("Could not evaluate."), waitCursor=True):
            metrics, errorMap = api.evaluate(self.ui.evaluationSyntheticSelector.currentNode(),
                                             self.ui.evaluationReferenceSelector.currentNode(),
                                             self.ui.evaluationMaskSelector.currentNode())
            self.ui.evaluationResultLabel.text = _(
                "MAE {mae:.1f} HU, PSNR {psnr:.2f} dB, SSIM {ssim:.3f} over {voxels} voxels; error map: {name}").format(
                mae=metrics["mae"], psnr=metrics["psnr"], ssim=metrics["ssim"], voxels=metrics["mask_voxels"],
                name=errorMap.GetName())
            self.logic.show(self.ui.evaluationSyntheticSelector.currentNode(), errorMap)

    def onSaveSynthetic(self) -> None:
        from GANSynthesisLib.slicer import api

        node = self.ui.evaluationSyntheticSelector.currentNode()
        if node is None:
            slicer.util.errorDisplay(_("Select the synthetic volume to save first."), windowTitle="GANSynthesis")
            return
        path = qt.QFileDialog.getSaveFileName(self.parent, _("Save synthetic volume"), f"{node.GetName()}.nrrd",
                                              "Images (*.nrrd *.nii.gz *.nii *.mha)")
        if not path:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not save the volume."), waitCursor=True):
            saved = api.export_volume(node, path, overwrite=True)
            self.ui.evaluationResultLabel.text = _("Saved {path} with its provenance.").format(path=saved)

    # --- synthetic dataset: generate, review and blinded reading ----------------------------------------------
    def choosePath(self, lineEdit, title: str) -> None:
        folder = qt.QFileDialog.getExistingDirectory(self.parent, title, lineEdit.text)
        if folder:
            lineEdit.text = folder

    def onGenerateOrCancel(self) -> None:
        if self._generation is not None:
            self.cancelGeneration()
            self.ui.generateStatusLabel.text = _("Cancelled; the cases made so far are kept (Generate again resumes).")
            return
        with slicer.util.tryWithErrorDisplay(_("Could not start generating."), waitCursor=True):
            self._generation = self.logic.startGeneration(
                self.ui.datasetPathLineEdit.text.strip(), self.ui.generateSourceLineEdit.text.strip(),
                self.ui.generateCountSpinBox.value, self.currentGenerationModel())
            self.ui.generateButton.text = _("Cancel")
            self.ui.generateStatusLabel.text = _("Starting …")
            self._generationTimer.start()

    def currentGenerationModel(self) -> str:
        """The synthesis model chosen in the model box when the task is synthesis, else the default ('')."""
        bundle = self.currentBundle() if self.currentTask().name == "synthesize" else None
        return str(bundle.path) if bundle is not None else ""

    def pollGeneration(self) -> None:
        status = self._generation.poll()
        if not status.finished:
            self.ui.generateStatusLabel.text = _("{percent}% — {message}").format(
                percent=int(100 * status.fraction), message=status.message)
            return
        self._generation = None
        self._generationTimer.stop()
        self.ui.generateButton.text = _("Generate dataset")
        self.ui.generateStatusLabel.text = (_("Failed: {error}").format(error=status.error) if status.error
                                            else status.output.splitlines()[-1])

    def cancelGeneration(self) -> None:
        if self._generation is not None:
            self._generation.cancel()
            self._generation = None
            self._generationTimer.stop()
            self.ui.generateButton.text = _("Generate dataset")

    def updateDatasetButtons(self) -> None:
        for button in (self.ui.previousCaseButton, self.ui.nextCaseButton, self.ui.acceptCaseButton,
                       self.ui.rejectCaseButton):
            button.enabled = self._review is not None
        for button in (self.ui.answerRealButton, self.ui.answerSyntheticButton, self.ui.readingResultButton):
            button.enabled = self._reading is not None

    def onReviewDataset(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not open the dataset."), waitCursor=True):
            self._review = self.logic.reviewDataset(self.ui.datasetPathLineEdit.text.strip())
            self.updateDatasetButtons()
            self.showReviewCase()

    def showReviewCase(self, step: int = 0) -> None:
        """Show the current case (or the one ``step`` away) with its labels and nearest real image."""
        with slicer.util.tryWithErrorDisplay(_("Could not show the case."), waitCursor=True):
            nodes = self._review.show(self._review.index + step)
            self.logic.show(nodes["synthetic"])
            self.ui.reviewStatusLabel.text = self._review.status

    def onDecideCase(self, accept: bool) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not record the decision."), waitCursor=True):
            self._review.decide(accept, self.ui.rejectReasonLineEdit.text, self.ui.reviewerLineEdit.text)
            self.ui.rejectReasonLineEdit.text = ""
            self.showReviewCase()

    def onStartReading(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not start the reading."), waitCursor=True):
            self._reading = self.logic.startReading(self.ui.datasetPathLineEdit.text.strip(),
                                                    self.ui.referencesPathLineEdit.text.strip(),
                                                    self.ui.reviewerLineEdit.text.strip())
            self.updateDatasetButtons()
            self.showReadingItem()

    def showReadingItem(self) -> None:
        node = self._reading.show_next()
        answered, total = self._reading.session.progress
        if node is None:
            self.ui.readingStatusLabel.text = _("All {total} slices read; press Result.").format(total=total)
            return
        self.logic.show(node)
        self.ui.readingStatusLabel.text = _("Slice {number} of {total}: real or synthetic? Rate its realism, then "
                                            "answer.").format(number=answered + 1, total=total)

    def onAnswer(self, answer: str) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not record the answer.")):
            self._reading.answer(answer, self.ui.realismSpinBox.value)
            self.showReadingItem()

    def onReadingResult(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not score the reading.")):
            table = self._reading.result()
            rows = [f"{table.GetCellText(r, 0)}: {table.GetCellText(r, 1)}" for r in range(table.GetNumberOfRows())]
            self.ui.readingStatusLabel.text = _("{rows} (table {name}; CSV beside the session)").format(
                rows="; ".join(rows), name=table.GetName())


class GANSynthesisLogic(ScriptedLoadableModuleLogic):
    """What the panel needs beyond GANSynthesisLib's scripting API (``GANSynthesisLib.slicer.api``, which scripts use
    directly): the model catalogue read once, dependencies, input checks on the main thread, the child process,
    and the one place that sets the views. No Qt here."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self._catalogue = None

    def getParameterNode(self):
        return GANSynthesisParameterNode(super().getParameterNode())

    # --- models -------------------------------------------------------------------------------
    def models(self, task: str, modality: Optional[str] = None) -> list:
        """The installed models of ``task`` (read from disk once; see :meth:`importModel`)."""
        from GANSynthesisLib.models.registry import accepts_modality, list_models

        if self._catalogue is None:
            self._catalogue = list_models()
        return [b for b in self._catalogue if b.task == task and accepts_modality(b, modality)]

    def model(self, name: Optional[str], task: str):
        """The catalogued model of ``task`` called ``name``, or None."""
        return next((b for b in self.models(task) if b.name == name), None) if name else None

    def importModel(self, folder: str):
        """Copy a model folder into the user's models (checked) and re-read the catalogue."""
        from GANSynthesisLib.models.registry import import_model_folder

        bundle = import_model_folder(folder)
        self._catalogue = None
        return bundle

    # --- dependencies ----------------------------------------------------------------------------
    def ensureDependencies(self, confirm=None) -> None:
        """Install what the models need, once: torch through the PyTorch extension, the rest with pip.

        ``confirm(message) -> bool`` asks the user first (None installs without asking). Raises GANSynthesisError
        saying what is missing and how to get it when it cannot be installed or the user declines.
        """
        from GANSynthesisLib.slicer.dependencies import missing_pip_packages, pip_requirements, torch_missing

        if torch_missing():
            try:
                import PyTorchUtils
            except ImportError as error:
                raise GANSynthesisError(_(
                    "GANSynthesis needs PyTorch, which the PyTorch extension installs. Install 'PyTorch' from the "
                    "Extensions Manager, restart Slicer, and press Apply again.")) from error
            try:
                torch = PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=confirm is not None,
                                                                      torchVersionRequirement=">=2.2")
            except Exception as error:
                raise GANSynthesisError(_(
                    "Installing PyTorch failed ({error}). Check the internet connection and press Apply again, or "
                    "install it in the PyTorch Utils module.").format(error=error)) from error
            if torch is None:
                raise GANSynthesisError(_("PyTorch was not installed, so the model cannot run. Press Apply again to "
                                          "install it (this needs the internet once)."))
        missing = missing_pip_packages()
        if not missing:
            return
        message = _("GANSynthesis needs these Python packages: {packages}. Install them now? (Slicer's own numpy, "
                    "SimpleITK and VTK are kept as they are.)").format(packages=", ".join(missing))
        if confirm is not None and not confirm(message):
            raise GANSynthesisError(_("The packages {packages} were not installed, so the model cannot run.").format(
                packages=", ".join(missing)))
        try:
            slicer.util.pip_install(" ".join(pip_requirements(missing)))
        except Exception as error:
            raise GANSynthesisError(_(
                "Installing {packages} with pip failed ({error}). Check the internet connection, or install them "
                "from Slicer's Python console with slicer.util.pip_install.").format(packages=", ".join(missing),
                                                                                     error=error)) from error

    # --- samples ------------------------------------------------------------------------------
    def loadSample(self, name: str) -> dict:
        """Draw a sample phantom into the scene (numpy and scipy only, no torch); returns its nodes by role."""
        from GANSynthesisLib.slicer.sample_data import load_sample

        return load_sample(slicer.mrmlScene, name)

    def loadSampleInput(self, bundle):
        """Draw the sample that fits the model's input; returns (the input node, all its nodes by role)."""
        from GANSynthesisLib.slicer.sample_data import load_sample_input

        return load_sample_input(slicer.mrmlScene, bundle)

    # --- a run --------------------------------------------------------------------------------
    def prepare(self, parameterNode, inputNode, bundle, segmentMapping=None):
        """Read the input from the scene and check every setting before anything starts; the scene is not
        changed."""
        from GANSynthesisLib.slicer import api
        from GANSynthesisLib.tasks.anomaly.thresholds import resolve_threshold

        if bundle is None:
            raise GANSynthesisError(_("No model is selected; choose one, or import a model folder."))
        if parameterNode.device not in DEVICE_CHOICES:  # whether a GPU is there, the child says (CUDA stays out
            raise GANSynthesisError(_("Unknown device {device!r}.").format(device=parameterNode.device))  # of Slicer)
        prepared = api.prepare(bundle.task, inputNode, bundle, parameterNode.referenceVolume,
                               parameterNode.outputVolume, segmentMapping)
        if bundle.task == "anomaly" and parameterNode.anomalyThreshold > 0:
            prepared.inputs["threshold"] = resolve_threshold(bundle.manifest, parameterNode.anomalyThreshold)
        if bundle.task == "synthesize":
            phase = parameterNode.contrastPhase
            prepared.inputs["contrast_hu"] = parse_contrast(parameterNode.contrastHU if phase == CUSTOM_PHASE
                                                            else phase)
        return prepared

    def start(self, prepared, device: str = "auto", batchSize: Optional[int] = None):
        """Start the model on ``prepared`` in a child process; returns the ChildRun to poll."""
        from GANSynthesisLib.slicer.child_run import ChildRun

        child = ChildRun(python=shutil.which("PythonSlicer") or sys.executable)
        child.start(prepared.task.name, prepared.volume, prepared.bundle.path, prepared.inputs, device, batchSize)
        return child

    def publish(self, prepared, child):
        """Add the finished child's result to the scene and show it; returns (output node, task result)."""
        from GANSynthesisLib.slicer import api

        result = child.take_result()
        output = api.publish(prepared, result)
        if prepared.task.output_display == "heat":
            self.show(prepared.input_node, output, api.related_node(output, "chart"))
        else:
            self.show(output)
            if prepared.input_node.IsA("vtkMRMLSegmentationNode") and prepared.input_node.GetDisplayNode():
                prepared.input_node.GetDisplayNode().SetVisibility(True)
        return output, result

    def resultText(self, output, result) -> str:
        """The status line after a run: the node, what marks it synthetic, the anomaly summary and any warning."""
        from GANSynthesisLib.tasks.anomaly.thresholds import threshold_text

        text = _("Done: {name} (synthetic, research use only).").format(name=output.GetName())
        if "volume_score" in result.summary:
            text += " " + _("Anomaly score {score:.3g}; suspected {volume:.1f} ml at {threshold}.").format(
                score=result.summary["volume_score"], volume=result.summary["suspected_ml"],
                threshold=threshold_text(result.summary))
        if LEVEL_KEY in result.summary:
            text += " " + _("Blood set to {level}.").format(level=describe_level(result.summary[LEVEL_KEY]))
        for warning in result.warnings:
            logging.warning(warning)
            text += " " + _("Warning: {warning}").format(warning=warning)
        return text

    def process(self, task: str, inputNode, model=None, referenceVolumeNode=None, outputNode=None,
                device: str = "auto"):
        """Run a whole task in this process and wait (for scripts and the self-test); returns the output node."""
        from GANSynthesisLib.slicer import api

        return api.run_task(task, inputNode, model, referenceVolumeNode, outputNode, device=device)

    # --- synthetic dataset ----------------------------------------------------------------------
    def startGeneration(self, folder: str, labelMaps: str, count: int, model: str = ""):
        """Start ``generate`` in a child process (``labelMaps`` empty: phantoms); returns the CommandRun to poll."""
        from GANSynthesisLib.slicer.command_run import CommandRun

        if not folder:
            raise GANSynthesisError(_("Choose the dataset folder to generate into first."))
        source = ["--input-dir", labelMaps] if labelMaps else ["--phantoms"]
        return CommandRun(["generate", *source, "--output-dir", folder, "--count", str(int(count)),
                           *(["--model", model] if model else [])],
                          python=shutil.which("PythonSlicer") or sys.executable)

    def reviewDataset(self, folder: str):
        """A review of the generated dataset in ``folder``, starting at its first unreviewed case."""
        from GANSynthesisLib.slicer.dataset_review import DatasetReview

        if not folder:
            raise GANSynthesisError(_("Choose the dataset folder first (made by `python -m GANSynthesisLib generate`)."))
        return DatasetReview(slicer.mrmlScene, folder)

    def startReading(self, folder: str, references: str, reader: str):
        """A blinded reading of the dataset's images beside the real ``references``, saved in the dataset as
        reading_<reader>.json (resumed when it exists)."""
        from GANSynthesisLib.slicer.dataset_review import BlindedReadingInScene, reading_session_path

        if not folder or not references:
            raise GANSynthesisError(_("Choose the dataset folder and the folder of real images first."))
        return BlindedReadingInScene.start(slicer.mrmlScene, folder, [references],
                                           reading_session_path(folder, reader), reader)

    def show(self, background, foreground=None, chart=None) -> None:
        """The one place that sets the views: a volume in the slice views (a heatmap or error map over it), and a
        chart in the layout."""
        if foreground is None:
            slicer.util.setSliceViewerLayers(background=background, foreground=None, fit=True)
        else:
            slicer.util.setSliceViewerLayers(background=background, foreground=foreground, foregroundOpacity=0.5,
                                             fit=True)
        if chart is not None and hasattr(slicer.modules, "plots"):
            slicer.modules.plots.logic().ShowChartInLayout(chart)


class GANSynthesisTest(ScriptedLoadableModuleTest):
    """Self-test inside Slicer: the samples (no torch needed), then each task on a sample phantom through the child
    process the panel uses. In testing mode (extension build machines) nothing is downloaded: without PyTorch the
    model runs are skipped with a message; run interactively (Reload and Test), it asks to install them."""

    def setUp(self) -> None:
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:
        self.setUp()
        self.test_SamplesLoadWithoutTorch()
        try:
            self.test_EveryTaskOnItsSample()
        except unittest.SkipTest as reason:
            self.delayDisplay(f"Skipped the model runs: {reason}")

    def test_EveryTaskOnItsSample(self) -> None:
        from GANSynthesisLib.slicer.dependencies import missing_pip_packages, torch_missing

        logic = GANSynthesisLogic()
        if slicer.app.testingEnabled() and (torch_missing() or missing_pip_packages()):
            self.skipTest("PyTorch or safetensors is not installed, and a test run never downloads them. Press "
                          "Apply once (or install PyTorch in PyTorch Utils) and test again.")
        try:
            logic.ensureDependencies(confirm=slicer.util.confirmOkCancelDisplay)
        except GANSynthesisError as error:
            self.skipTest(str(error))
        for task in TASKS:
            self.setUp()
            self.runTaskOnSample(logic, task)

    def test_SamplesLoadWithoutTorch(self) -> None:
        from GANSynthesisLib.slicer.sample_data import SAMPLES

        logic = GANSynthesisLogic()
        name, sample = next(iter(SAMPLES.items()))
        nodes = logic.loadSample(name)
        self.assertEqual(set(nodes), set(sample.node_names))
        self.assertTrue(nodes["ct"].GetAttribute("GANSynthesis.Phantom").startswith("seed"))
        self.delayDisplay("samples: test passed")

    def runTaskOnSample(self, logic, task: str) -> None:
        """One task on the sample that fits its first model, through the child process, as Apply runs it."""
        import time

        from GANSynthesisLib.slicer.sample_data import sample_input_for

        bundle = next(b for b in logic.models(task) if sample_input_for(b) is not None)
        self.delayDisplay(f"{task}: loading the sample for {bundle.name}")
        inputNode, nodes = logic.loadSampleInput(bundle)
        parameterNode = logic.getParameterNode()
        parameterNode.referenceVolume = nodes["ct"] if task == "synthesize" else None
        parameterNode.outputVolume = None
        parameterNode.device = "auto"
        prepared = logic.prepare(parameterNode, inputNode, bundle)
        child = logic.start(prepared, "auto", None)
        self.delayDisplay(f"{task}: running {bundle.name} in a child process")
        while not child.poll().finished:
            slicer.app.processEvents()
            time.sleep(0.05)
        self.assertIsNone(child.status.error)
        output, _result = logic.publish(prepared, child)
        grid = nodes["ct"] if task == "synthesize" else inputNode
        self.assertEqual(output.GetAttribute("GANSynthesis.Synthetic"), "true")
        self.assertEqual(output.GetImageData().GetDimensions(), grid.GetImageData().GetDimensions())
        self.delayDisplay(f"{task}: test passed")
