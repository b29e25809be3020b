"""Anomaly heatmaps: GAN reconstruction evidence, intensity rarity, surprise and thresholds."""
