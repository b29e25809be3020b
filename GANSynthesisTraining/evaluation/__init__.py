"""Held-out evaluation: image metrics and baselines, anomaly detection, low-dose and whole-body checks, plots."""
