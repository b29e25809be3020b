"""The input modalities the commands train on: what the manifest calls them and how inputs are normalised."""

from __future__ import annotations

from GANSynthesisLib.models.manifest import Normalisation

MR_PERCENTILES = Normalisation("percentile", low_percentile=0.5, high_percentile=99.5)
CT_WINDOW = Normalisation("window", low=-1024.0, high=2000.0)

TRANSLATION_SOURCES = {  # --source → (modality in the manifest, input normalisation, title, default model name)
    "mr": ("MR (T1-weighted)", MR_PERCENTILES, "MR → CT (phantom-trained demo)", "mr-to-ct-phantom"),
    "low-dose-ct": ("CT (low dose)", CT_WINDOW, "Low-dose → normal-dose CT (phantom-trained demo)",
                    "lowdose-ct-phantom"),
    "cbct": ("CBCT", CT_WINDOW, "CBCT → CT", "cbct-to-ct"),
}

ANOMALY_MODALITIES = {  # --modality → (manifest modality, input normalisation)
    "ct": ("CT", Normalisation("window", low=-1000.0, high=1000.0)),
    "mr": ("MR (T1-weighted)", MR_PERCENTILES),
}
