"""Model bundles: networks, the manifest, loading and checking bundles, the installed-model registry."""
