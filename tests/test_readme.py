"""The README's worked example runs (shrunk to a few steps), so the docs stay true."""

from __future__ import annotations

import os
import re
from pathlib import Path

from conftest import shared_path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_worked_example_runs(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "reliability_overlay" in b)
    shared = str(shared_path())
    code = (block.replace("../shared", shared).replace("select(range(4000))", "select(range(48))")
            .replace("num_train_epochs=3", "max_steps=2, use_cpu=True, dataloader_pin_memory=False")
            .replace('data["dev"]', 'data["dev"].select(range(40))'))
    assert code != block
    monkeypatch.chdir(tmp_path)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    assert (tmp_path / "out" / "reliability.png").read_bytes()[:4] == b"\x89PNG"
