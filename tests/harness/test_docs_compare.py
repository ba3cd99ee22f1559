"""docs/compare.md, the comparison's reference, names every preset and every claim the code declares."""

from __future__ import annotations

from pathlib import Path

from textmix.harness.compare.presets import PRESETS
from textmix.harness.report.claims import CLAIMS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "compare.md").read_text(encoding="utf-8")


def test_every_preset_and_every_claim_is_in_the_reference():
    missing = [f"preset {p}" for p in PRESETS if f"`{p}`" not in DOC]
    missing += [f"claim {c.name}" for c in CLAIMS if f"`{c.name}`" not in " ".join(DOC.split())]
    assert not missing, f"docs/compare.md lacks {missing}"
