"""f-AnoGAN: WGAN-GP on normal tiles, then the izi_f encoder."""
