"""A bundle's manifest (``model.json``) as typed records, checked in one place: :meth:`Manifest.from_dict`.

Every key the library reads has a typed field; free-form records (``training``, ``metrics``) stay dictionaries,
and keys this version does not know are kept in each record's ``extra`` so that :meth:`Manifest.to_dict` gives
back what was read. A problem raises a :class:`GANSynthesisError` that names the key (``grid.in_plane_spacing_mm``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from ..core.errors import GANSynthesisError

MANIFEST_FORMAT = 1
INTENDED_USE = "research, not for diagnosis"
NORMALISATIONS = ("window", "percentile")


class _Reader:
    """Takes typed values out of one JSON object, naming ``where`` and the key path in every error."""

    def __init__(self, data: Any, where: Path | str, path: str = "") -> None:
        self.where, self.path = where, path
        if not isinstance(data, Mapping):
            self.fail(f"{self.name('') or 'the manifest'} is {type(data).__name__}, not a JSON object")
        self.data, self.taken = data, set()

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path and key else self.path or key

    def fail(self, problem: str) -> None:
        raise GANSynthesisError(f"{self.where}: {problem}. Fix {Path(str(self.where)).name} or re-export the bundle.")

    def get(self, key: str, required: bool) -> Any:
        self.taken.add(key)
        if key not in self.data or self.data[key] is None:
            if required:
                self.fail(f"the required entry {self.name(key)!r} is missing")
            return None
        return self.data[key]

    def text(self, key: str, required: bool = False) -> str | None:
        value = self.get(key, required)
        if value is not None and not (isinstance(value, str) and value.strip()):
            self.fail(f"{self.name(key)!r} must be a text")
        return value

    def number(self, key: str, required: bool = False) -> float | None:
        value = self.get(key, required)
        if value is not None and not _is_number(value):
            self.fail(f"{self.name(key)!r} must be a number, not {value!r}")
        return value

    def flag(self, key: str) -> bool | None:
        value = self.get(key, False)
        if value is not None and not isinstance(value, bool):
            self.fail(f"{self.name(key)!r} must be true or false")
        return value

    def positive_numbers(self, key: str, count: int, required: bool = False) -> tuple[float, ...] | None:
        value = self.get(key, required)
        if value is None:
            return None
        if not (isinstance(value, list) and len(value) == count and all(_is_number(v) and v > 0 for v in value)):
            self.fail(f"{self.name(key)} {value!r} must be {'two' if count == 2 else count} positive numbers")
        return tuple(value)

    def mapping(self, key: str, required: bool = False) -> dict | None:
        value = self.get(key, required)
        if value is not None and not isinstance(value, Mapping):
            self.fail(f"{self.name(key)!r} must be a JSON object, not {type(value).__name__}")
        return None if value is None else dict(value)

    def listing(self, key: str) -> list | None:
        value = self.get(key, False)
        if value is not None and not isinstance(value, list):
            self.fail(f"{self.name(key)!r} must be a list")
        return value

    def child(self, key: str, required: bool = False) -> _Reader | None:
        value = self.mapping(key, required)
        return None if value is None else _Reader(value, self.where, self.name(key))

    def rest(self) -> dict[str, Any]:
        """The keys no field took, kept as they were."""
        return {key: value for key, value in self.data.items() if key not in self.taken}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _dict_of(record: Any, renames: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A record's fields (None left out, nested records as dicts, tuples as lists), then its ``extra`` keys."""
    out: dict[str, Any] = {}
    for item in fields(record):
        if item.name == "extra":
            continue
        value = getattr(record, item.name)
        if value is None:
            continue
        if hasattr(value, "to_dict"):
            value = value.to_dict()
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, dict) and value and all(hasattr(v, "to_dict") for v in value.values()):
            value = {k: v.to_dict() for k, v in value.items()}
        out[(renames or {}).get(item.name, item.name)] = value
    return out | getattr(record, "extra", {})


@dataclass(frozen=True)
class Normalisation:
    """How intensities map to the network's [-1, 1]: a fixed ``window`` (low, high) or the volume's ``percentile``
    range (low_percentile, high_percentile)."""

    type: str
    low: float | None = None
    high: float | None = None
    low_percentile: float | None = None
    high_percentile: float | None = None
    range: tuple[float, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, reader: _Reader) -> Normalisation:
        kind = reader.text("type", required=True)
        if kind not in NORMALISATIONS:
            reader.fail(f"{reader.name('type')} {kind!r} is not one of {', '.join(NORMALISATIONS)}")
        window = kind == "window"
        low, high = reader.number("low", window), reader.number("high", window)
        low_percentile = reader.number("low_percentile", not window)
        high_percentile = reader.number("high_percentile", not window)
        if window and not low < high:
            reader.fail(f"{reader.name('low')} must be below {reader.name('high')}")
        if not window and not 0 <= low_percentile < high_percentile <= 100:
            reader.fail(f"{reader.name('low_percentile')} and high_percentile must satisfy 0 ≤ low < high ≤ 100")
        value_range = reader.listing("range")
        return cls(kind, low, high, low_percentile, high_percentile, tuple(value_range) if value_range else None,
                   reader.rest())

    def to_dict(self) -> dict[str, Any]:
        return _dict_of(self)


@dataclass(frozen=True)
class InputStatistics:
    """The training data's input intensities (histogram over [-1, 1]) and voxel size, for the input checks."""

    histogram: tuple[float, ...] | None = None
    warn_distance: float | None = None
    voxel_spacing_mm: dict[str, float] | None = None
    data: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, reader: _Reader) -> InputStatistics:
        histogram = reader.listing("histogram")
        if histogram is not None and not all(_is_number(v) and v >= 0 for v in histogram):
            reader.fail(f"{reader.name('histogram')} must hold non-negative numbers")
        return cls(tuple(histogram) if histogram is not None else None, reader.number("warn_distance"),
                   reader.mapping("voxel_spacing_mm"), reader.text("data"), reader.rest())

    def to_dict(self) -> dict[str, Any]:
        return _dict_of(self)


@dataclass(frozen=True)
class InputSpec:
    """What the model takes: a label map (``labels``: name → value; ``label_set`` for whole-body models) or an
    image of a ``modality`` with its ``normalisation`` and training ``statistics``."""

    kind: str | None = None
    modality: str | None = None
    units: str | None = None
    labels: dict[str, int] | None = None
    label_set: str | None = None
    encoding: str | None = None
    normalisation: Normalisation | None = None
    statistics: InputStatistics | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, reader: _Reader) -> InputSpec:
        labels = reader.mapping("labels")
        if labels is not None and not all(isinstance(v, int) and not isinstance(v, bool) for v in labels.values()):
            reader.fail("input labels must map names to integer label values")
        normalisation, statistics = reader.child("normalisation"), reader.child("statistics")
        return cls(reader.text("kind"), reader.text("modality"), reader.text("units"), labels,
                   reader.text("label_set"), reader.text("encoding"),
                   Normalisation.read(normalisation) if normalisation else None,
                   InputStatistics.read(statistics) if statistics else None, reader.rest())

    def to_dict(self) -> dict[str, Any]:
        return _dict_of(self)


@dataclass(frozen=True)
class OutputSpec:
    """What the model gives: a ``modality`` in ``units``, mapped back from [-1, 1] by ``normalisation``."""

    modality: str | None = None
    units: str | None = None
    kind: str | None = None
    contrast: str | None = None
    normalisation: Normalisation | None = None
    range: tuple[float, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, reader: _Reader) -> OutputSpec:
        normalisation = reader.child("normalisation")
        value_range = reader.listing("range")
        return cls(reader.text("modality"), reader.text("units"), reader.text("kind"), reader.text("contrast"),
                   Normalisation.read(normalisation) if normalisation else None,
                   tuple(value_range) if value_range else None, reader.rest())

    def to_dict(self) -> dict[str, Any]:
        return _dict_of(self)


@dataclass(frozen=True)
class Grid:
    """The slice grid the model runs on: in-plane pixel size (mm) and the training slice size."""

    in_plane_spacing_mm: tuple[float, float]
    plane: str | None = None
    in_plane_size: tuple[float, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, reader: _Reader) -> Grid:
        return cls(reader.positive_numbers("in_plane_spacing_mm", 2, required=True), reader.text("plane"),
                   reader.positive_numbers("in_plane_size", 2), reader.rest())

    def to_dict(self) -> dict[str, Any]:
        return _dict_of(self)


@dataclass(frozen=True)
class WeightFile:
    """One network's safetensors file in the bundle folder and its SHA-256."""

    file: str
    sha256: str
    dtype: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, value: Any, reader: _Reader, part: str) -> WeightFile:
        if not (isinstance(value, Mapping) and isinstance(value.get("file"), str)
                and isinstance(value.get("sha256"), str)):
            reader.fail(f"weights {part!r} must be an object with a 'file' name and its 'sha256'")
        digest = value["sha256"]
        if not (len(digest) == 64 and all(c in "0123456789abcdef" for c in digest.lower())):
            reader.fail(f"weights {part!r} has no valid sha256 (64 hex digits); every weight file needs one")
        if Path(value["file"]).name != value["file"]:
            reader.fail(f"weights {part!r} names {value['file']!r}; a weight file must lie in the bundle folder itself")
        extra = {k: v for k, v in value.items() if k not in ("file", "sha256", "dtype")}
        return cls(value["file"], digest, value.get("dtype"), extra)

    def to_dict(self) -> dict[str, Any]:
        return _dict_of(self)


SHIFT_POOLINGS = ("best", "mean")


@dataclass(frozen=True)
class AnomalySettings:
    """How an anomaly model scores: its ``method`` (f-AnoGAN or inpainting), tiles, smoothing, body level, the
    default ``threshold`` and its calibration (normal heat table, intensity rarity, surprise)."""

    threshold: float
    smoothing_mm: float
    body_level: float
    method: str | None = None  # None: f-AnoGAN, the first method
    tile: int | None = None
    hole: int | None = None
    grid_shifts: int | None = None
    kappa: float | None = None
    stride_fraction: float | None = None
    calibration: str | None = None
    intensity_rarity: list | None = None
    surprise: dict[str, Any] | None = None
    normal_heat: list | None = None
    shift_pooling: str | None = None  # how shifted grids combine: "best" (None) or "mean"
    tissue_kinds: dict[str, Any] | None = None  # per-kind evidence (see tasks.anomaly.tissue_kinds)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, reader: _Reader) -> AnomalySettings:
        method = reader.text("method")
        tile, hole = reader.number("tile", required=True), reader.number("hole", required=method == "inpainting")
        return cls(reader.number("threshold", required=True), reader.number("smoothing_mm", required=True),
                   reader.number("body_level", required=True), method, int(tile), None if hole is None else int(hole),
                   reader.number("grid_shifts"), reader.number("kappa"), reader.number("stride_fraction"),
                   reader.text("calibration"), reader.listing("intensity_rarity"), reader.mapping("surprise"),
                   reader.listing("normal_heat"), cls._pooling(reader), reader.mapping("tissue_kinds"), reader.rest())

    @staticmethod
    def _pooling(reader: _Reader) -> str | None:
        pooling = reader.text("shift_pooling")
        if pooling not in (None, *SHIFT_POOLINGS):
            reader.fail(f"'anomaly.shift_pooling' must be one of {', '.join(SHIFT_POOLINGS)}, not {pooling!r}")
        return pooling

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "anomaly settings") -> AnomalySettings:
        """Anomaly settings from their JSON form, checked."""
        return cls.read(_Reader(data, where, "anomaly"))

    @property
    def scoring_method(self) -> str:
        """'f-anogan' or 'inpainting'."""
        return self.method or "f-anogan"

    def to_dict(self) -> dict[str, Any]:
        return _dict_of(self)


@dataclass(frozen=True)
class Manifest:
    """A model bundle's manifest: identity, networks and weights, input, output, grid, task settings, card data."""

    name: str
    version: str
    task: str
    architecture: dict[str, dict[str, Any]]
    input: InputSpec
    output: OutputSpec
    grid: Grid
    weights: dict[str, WeightFile] = field(default_factory=dict)
    title: str | None = None
    description: str | None = None
    default: bool | None = None  # the task's default model when true
    license: str = "Apache-2.0"
    intended_use: str = INTENDED_USE
    anomaly: AnomalySettings | None = None
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    limits: tuple[str, ...] = ()
    format_version: int = MANIFEST_FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any, where: Path | str = "model.json", with_weights: bool = True) -> Manifest:
        """The manifest checked entry by entry; a clear error names the first wrong key. ``with_weights``: the
        weight files must be listed (a bundle on disk), not yet (a manifest about to be saved)."""
        reader = _Reader(data, where)
        name, version, task = (reader.text(key, required=True) for key in ("name", "version", "task"))
        architecture = reader.mapping("architecture", required=True)
        for part, spec in architecture.items():
            if not (isinstance(spec, Mapping) and isinstance(spec.get("type"), str)):
                reader.fail(f"architecture {part!r} must be an object with a 'type'")
        weights = reader.mapping("weights", required=with_weights) or {}
        if with_weights and not weights:
            reader.fail("'weights' lists no weight file")
        sections = {key: reader.child(key, required=True) for key in ("input", "output", "grid")}
        anomaly = reader.child("anomaly", required=task == "anomaly")
        limits = reader.listing("limits") or []
        format_version = reader.number("format_version")
        return cls(
            name, version, task, architecture, InputSpec.read(sections["input"]), OutputSpec.read(sections["output"]),
            Grid.read(sections["grid"]), {part: WeightFile.read(entry, reader, part) for part, entry in weights.items()},
            reader.text("title"), reader.text("description"), reader.flag("default"),
            reader.text("license", required=True), reader.text("intended_use", required=True),
            AnomalySettings.read(anomaly) if anomaly else None, reader.mapping("training") or {},
            reader.mapping("metrics") or {}, tuple(limits), int(format_version or MANIFEST_FORMAT), reader.rest())

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON-ready data (what ``model.json`` holds)."""
        out = _dict_of(self)
        for key in ("training", "metrics", "limits", "weights"):
            if not out.get(key):
                out.pop(key, None)
        return out

    @property
    def display_title(self) -> str:
        """The title, or the name where the manifest has none."""
        return self.title or self.name
