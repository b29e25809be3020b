"""Installing dependencies inside Slicer: pip requirements pin Slicer's own packages."""

from GANSynthesisLib.slicer.dependencies import PROTECTED, pip_requirements


def test_pip_requirements_pin_slicers_own_packages():
    requirements = pip_requirements(["safetensors"])
    assert requirements[0].startswith("safetensors")
    assert any(r.startswith("numpy==") for r in requirements) and all(
        "==" in r for r in requirements[1:]) and len(requirements) <= 1 + len(PROTECTED)
    assert pip_requirements([]) == []
