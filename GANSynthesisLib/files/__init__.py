"""Image files in and out: reading, checked writing with provenance, outputs that appear all at once."""
