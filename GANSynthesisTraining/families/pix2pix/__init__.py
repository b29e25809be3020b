"""pix2pix (U-Net or ResNet generator, conditional PatchGAN): synthesis, translation, whole-body."""
