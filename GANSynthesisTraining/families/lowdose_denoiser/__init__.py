"""Real-CT low-dose denoiser: residual CNN, L1 (optionally + LSGAN)."""
