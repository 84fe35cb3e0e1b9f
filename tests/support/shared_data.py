"""The shared dev set and scorer beside the checkout (../shared), or at DVTRIGGER_SHARED_DIR."""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path
from types import ModuleType

SHARED = Path(os.environ.get("DVTRIGGER_SHARED_DIR") or Path(__file__).parents[2].parent / "shared")
DEV = SHARED / "data" / "dev"
SCORER = SHARED / "tools" / "score.py"


@functools.cache
def load_scorer(path: Path = SCORER) -> ModuleType:
    """The shared scorer, imported from its path."""
    spec = importlib.util.spec_from_file_location("dvtrigger_shared_score", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
