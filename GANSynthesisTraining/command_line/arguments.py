"""The options the training commands share: the data group, the run folder, phantom drawing, threads and one
--flag per field of a family's config."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path
from typing import Any, Sequence

from GANSynthesisLib.phantoms.thorax import SUPERSAMPLE_CHOICES

from GANSynthesisTraining.data.modalities import ANOMALY_MODALITIES

# Where training cases can come from: option → (type, metavar, help); "{source}"/"{target}" name the pair columns.
DATA_SOURCES: dict[str, tuple[type, str, str]] = {
    "--mmwhs": (Path, "DIR", "MM-WHS folder of *_image.nii.gz / *_label.nii.gz"),
    "--synthrad": (Path, "DIR", "SynthRAD2023 folder: <region>/<id>/{{mr|cbct,ct,mask}}.nii.gz"),
    "--pairs-csv": (Path, "CSV", "CSV with columns {source},{target}[,mask,id]"),
    "--pairs-folder": (Path, "DIR", "folder with subfolders {source}/, {target}/ [, mask/] of files with the same "
                                    "names"),
    "--domain-a": (Path, "DIR", "folder of source-modality volumes"),
    "--domain-b": (Path, "DIR", "folder of CT volumes (not the same patients needed)"),
    "--normal-folder": (Path, "DIR", "folder of scans without anomalies"),
    "--pairs": (Path, "DIR", "folder of real-CT low-dose pairs written by the lowdose-pairs command"),
}


def add_data_arguments(parser: argparse.ArgumentParser, sources: Sequence[str], phantoms: str | None = None,
                       columns: tuple[str, str] = ("source", "target"), choose_one: bool = True,
                       phantoms_default: int | None = None) -> None:
    """The data group: ``--phantoms N`` (helped by ``phantoms``; left out when None) and the given
    :data:`DATA_SOURCES`; with ``choose_one`` exactly one of them must be given."""
    group = parser.add_argument_group("data", "where the training cases come from")
    options = group.add_mutually_exclusive_group(required=True) if choose_one else group
    if phantoms is not None:
        options.add_argument("--phantoms", type=int, metavar="N", default=phantoms_default, help=phantoms)
    for flag in sources:
        kind, metavar, text = DATA_SOURCES[flag]
        options.add_argument(flag, type=kind, metavar=metavar,
                             help=text.format(source=columns[0], target=columns[1]))


def add_phantom_arguments(parser: argparse.ArgumentParser) -> None:
    """How generated phantoms are drawn (3 mm voxels)."""
    parser.add_argument("--phantom-size", type=int, nargs=3, default=(128, 128, 48), metavar=("X", "Y", "Z"),
                        help="phantom voxels")
    parser.add_argument("--phantom-supersample", type=int, choices=SUPERSAMPLE_CHOICES, default=1, metavar="N",
                        help="each phantom voxel averages N³ samples (1, 3 or 5), giving the partial volume of real "
                             "scans at tissue edges (the bundled models were trained with 1)")


def add_threads_argument(parser: argparse.ArgumentParser, default: int | None = None) -> None:
    """--threads: CPU threads for PyTorch."""
    parser.add_argument("--threads", type=int, default=default, help="CPU threads (0 or none: PyTorch's default)")


def add_run_arguments(parser: argparse.ArgumentParser, default_name: str,
                      held_out: str = "held-out cases (phantoms: new seeds; datasets: whole patients split off "
                                      "before training)",
                      validation: bool = True, canvas: str = "training slice size (pixels)") -> None:
    """Held-out and validation cases, run folder, resume, export, model name and grid, phantoms, threads."""
    parser.add_argument("--held-out", type=int, default=6, help=held_out)
    if validation:
        parser.add_argument("--validation", type=int, default=0, help="validation cases, scored at every checkpoint "
                            "(phantoms: new seeds; datasets: whole patients split off before training)")
    parser.add_argument("--run-dir", type=Path, required=True, help="run folder: checkpoints, losses, snapshots")
    parser.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    parser.add_argument("--export", type=Path, metavar="DIR", help="write the trained model bundle here")
    parser.add_argument("--name", default=default_name, help="model name in the bundle"
                        + ("" if default_name else " (default: one for the chosen modality)"))
    parser.add_argument("--spacing", type=float, default=3.0, help="in-plane model spacing (mm)")
    parser.add_argument("--canvas", type=int, default=128, help=canvas)
    add_phantom_arguments(parser)
    add_threads_argument(parser)
    parser.add_argument("--training-note", default="", help="sentence added to the model card's training summary "
                        "(e.g. how a resumed run changed its settings)")


def add_anomaly_arguments(parser: argparse.ArgumentParser) -> None:
    """Data, evaluation and run-folder options shared by the anomaly training commands."""
    add_data_arguments(parser, ["--normal-folder"], phantoms="N normal phantoms (seeds 0..N-1)")
    parser.add_argument("--real-ct", action="store_true",
                        help="add the real normal CT of ../shared/data to the training volumes (lesion slices and a "
                             "margin left out; repeated to about half of the training slices)")
    parser.add_argument("--lesion-csv", type=Path, help="held-out scans with lesion masks (columns image,mask[,id]); "
                        "phantoms: generated lesion phantoms")
    parser.add_argument("--modality", choices=ANOMALY_MODALITIES, required=True, help="modality of the scans")
    parser.add_argument("--calibration", type=int, default=4, help="lesion phantoms that set the default threshold")
    parser.add_argument("--lesion-supersample", type=int, choices=SUPERSAMPLE_CHOICES, metavar="N",
                        help="calibration and held-out lesion phantoms average N³ samples per voxel (default: "
                             "--phantom-supersample); e.g. 3 calibrates a model trained on sharp phantoms, whose "
                             "intensity table then holds pure tissue, for the partial volume of real scans; the normal "
                             "anatomy of the calibration phantoms then joins the input statistics behind the warnings")
    parser.add_argument("--intensity-evidence", action="store_true",
                        help="the heat adds how rare each voxel's intensity is in normal anatomy to how unusual it is "
                             "in context, each judged against the calibration phantoms' normal voxels")
    parser.add_argument("--networks-from", type=Path, metavar="BUNDLE",
                        help="skip training: calibrate, evaluate and export the networks of this bundle (e.g. after "
                             "a change to calibration); pass the options it was trained with")
    add_run_arguments(parser, "", held_out="held-out lesion phantoms", validation=False,
                      canvas="slice canvas the tiles are cut from (pixels)")


def add_window_argument(parser: argparse.ArgumentParser, help: str = "output HU window mapped to [-1, 1]") -> None:
    """--window LOW HIGH: the CT window the network's [-1, 1] output stands for."""
    parser.add_argument("--window", type=float, nargs=2, default=(-1024.0, 2000.0), metavar=("LOW", "HIGH"),
                        help=help)


def config_help(config_class: type) -> dict[str, str]:
    """Each config field's help line: the ``HELP`` tables of the class and its bases, nearest first."""
    merged: dict[str, str] = {}
    for klass in reversed(config_class.__mro__):
        merged |= getattr(klass, "HELP", {})
    return merged


def add_config_arguments(parser: argparse.ArgumentParser, config_class: type) -> None:
    """One --flag per config field, defaulting to the field's default, helped by :func:`config_help`."""
    defaults, helps = config_class(), config_help(config_class)
    group = parser.add_argument_group("training settings", f"{config_class.__name__} fields")
    for f in fields(config_class):
        value = getattr(defaults, f.name)
        flag, extra = "--" + f.name.replace("_", "-"), {"default": value, "help": helps.get(f.name)}
        if isinstance(value, list):
            group.add_argument(flag, type=int, nargs="*", **extra)
        elif isinstance(value, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **extra)
        else:
            group.add_argument(flag, type=type(value), **extra)


def config_from_arguments(config_class: type, args: argparse.Namespace) -> Any:
    """The config built from parsed --flags."""
    return config_class(**{f.name: getattr(args, f.name) for f in fields(config_class)})
