"""Inpainting GAN: pix2pix that fills a tile's blanked centre, with an optional error-scale network."""
