"""tools/planted_bugs.py (the planted-bug round, not run in CI): its mutation list parses and each snippet still
occurs exactly once in its file, so the round does not rot as the code changes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_planted_bug_still_applies_exactly_once():
    spec = importlib.util.spec_from_file_location("planted_bugs", ROOT / "tools" / "planted_bugs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    assert len(module.MUTATIONS) >= 30
    assert module.check() == []
    assert len({(m.file, m.original) for m in module.MUTATIONS}) == len(module.MUTATIONS)
