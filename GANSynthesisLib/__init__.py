"""GANSynthesis library: GAN image synthesis for medical volumes, without Qt (research, not for diagnosis)."""

__version__ = "0.1.0"
