"""The input modalities the commands train on: what the manifest calls them and how inputs are normalised."""

from __future__ import annotations

TRANSLATION_SOURCES = {  # --source → (modality in the manifest, input normalisation, title, default model name)
    "mr": ("MR (T1-weighted)", {"type": "percentile", "low_percentile": 0.5, "high_percentile": 99.5},
           "MR → CT (phantom-trained demo)", "mr-to-ct-phantom"),
    "low-dose-ct": ("CT (low dose)", {"type": "window", "low": -1024.0, "high": 2000.0},
                    "Low-dose → normal-dose CT (phantom-trained demo)", "lowdose-ct-phantom"),
    "cbct": ("CBCT", {"type": "window", "low": -1024.0, "high": 2000.0}, "CBCT → CT", "cbct-to-ct"),
}

ANOMALY_MODALITIES = {  # --modality → (manifest modality, input normalisation)
    "ct": ("CT", {"type": "window", "low": -1000.0, "high": 1000.0}),
    "mr": ("MR (T1-weighted)", {"type": "percentile", "low_percentile": 0.5, "high_percentile": 99.5}),
}
