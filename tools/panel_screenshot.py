"""The README's picture of the Slicer panel after a run: the module's own code on the test runtime (Slicer 5.10's
Python layer over slicer-core, Qt for Python offscreen), the heart sample loaded and synthesized in a child process.

Usage: python tools/panel_screenshot.py [OUTPUT.png]   (default Resources/Screenshots/panel.png)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "Testing"), str(ROOT)]

import slicer_runtime  # noqa: E402


def main(output: Path) -> Path:
    if not slicer_runtime.available():
        raise SystemExit(f"error: {slicer_runtime.UNAVAILABLE_REASON}")
    slicer_runtime.install()
    import qt

    scene = slicer_runtime.new_scene()
    panel = slicer_runtime.build_panel(slicer_runtime.load_module(), scene)
    panel.ui.loadSampleButton.click()
    panel.ui.applyButton.click()
    while panel._run is not None:
        qt.QApplication.processEvents()
        time.sleep(0.01)
    panel.parent.resize(460, 1000)
    panel.parent.show()
    qt.QApplication.processEvents()
    output.parent.mkdir(parents=True, exist_ok=True)
    if not panel.parent.grab().save(str(output)):
        raise SystemExit(f"error: could not write {output}")
    panel.cleanup()
    return output


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "Resources" / "Screenshots" / "panel.png"))
