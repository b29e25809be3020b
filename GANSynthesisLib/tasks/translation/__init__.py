"""Image-to-image translation: MR → CT, low-dose → normal-dose CT."""
