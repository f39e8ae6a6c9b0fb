"""The Lambda functions' handler modules, loaded from their files as Lambda loads them
(each function's `app.py` is its own top-level module)."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from tests.samples import ROOT


def load_redrive_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("redrive_app", ROOT / "functions" / "redrive" / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
