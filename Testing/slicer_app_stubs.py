"""Stand-ins for the parts of the Slicer application that cannot exist without it (Qt GUI, module base classes).

Used only to import GANSynthesis/GANSynthesis.py outside Slicer so its Logic can run on real slicer-core MRML.
"""

from __future__ import annotations

import types


def install(monkeypatch) -> None:
    qt = types.ModuleType("qt")
    monkeypatch.setitem(__import__("sys").modules, "qt", qt)

    scripted = types.ModuleType("slicer.ScriptedLoadableModule")

    class _Base:
        def __init__(self, *args, **kwargs):
            pass

    for name in ("ScriptedLoadableModule", "ScriptedLoadableModuleWidget", "ScriptedLoadableModuleLogic",
                 "ScriptedLoadableModuleTest"):
        setattr(scripted, name, type(name, (_Base,), {}))
    monkeypatch.setitem(__import__("sys").modules, "slicer.ScriptedLoadableModule", scripted)

    wrapper = types.ModuleType("slicer.parameterNodeWrapper")
    wrapper.parameterNodeWrapper = lambda cls: cls
    wrapper.Choice = lambda choices: ("Choice", tuple(choices))
    wrapper.WithinRange = lambda low, high: ("WithinRange", low, high)
    monkeypatch.setitem(__import__("sys").modules, "slicer.parameterNodeWrapper", wrapper)
