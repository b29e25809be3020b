"""Scripts that draw the pictures the README, the docs and the module ship (run from the repository root)."""
