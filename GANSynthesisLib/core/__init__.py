"""Plain building blocks every layer uses: volumes, errors, orientation, devices, progress, slabs."""
