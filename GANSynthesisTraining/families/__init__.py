"""One folder per model family: its config, networks, training step, command and manifest section."""
