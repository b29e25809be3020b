"""The module's runtime for these tests: Slicer 5.10's Python layer over slicer-core, Qt for Python offscreen
(see Testing/slicer_runtime.py)."""

import sys

import pytest
import slicer_runtime


@pytest.fixture(scope="session")
def slicer_rt():
    if not slicer_runtime.available():
        pytest.skip(slicer_runtime.UNAVAILABLE_REASON)
    return slicer_runtime.install()


@pytest.fixture
def scene(slicer_rt):
    return slicer_runtime.new_scene()


@pytest.fixture
def module(scene):
    return slicer_runtime.load_module()


@pytest.fixture
def widget(module, scene, monkeypatch):
    """The panel; an exception raised in any of its slots fails the test (Qt would only print it)."""
    raised = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, error, trace: raised.append(error))
    panel = slicer_runtime.build_panel(module, scene)
    yield panel
    panel.cleanup()
    assert raised == [], f"the panel raised in a slot: {raised!r}"
