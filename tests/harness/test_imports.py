"""`import textmix` stays free of the harness and its heavy dependencies; `import textmix.harness` stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = ("import {module}, sys; print(sorted(m for m in sys.modules if m.split('.')[0] in ('datasets','matplotlib')"
         " or m.startswith('textmix.harness'){allowed}))")


@pytest.mark.parametrize("module,allowed", [
    ("textmix", ""),
    ("textmix.harness", " and m not in ('textmix.harness', 'textmix.harness.paths')"),
])
def test_import_loads_neither_datasets_matplotlib_nor_the_harness(module, allowed):
    done = subprocess.run([sys.executable, "-c", CHECK.format(module=module, allowed=allowed)], capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]", f"`import {module}` loaded {done.stdout.strip()}"


def test_the_wheel_ships_every_harness_package_and_the_command_resolves():
    import importlib
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")
    from setuptools import find_packages

    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    found = set(find_packages(where=str(root), include=config["tool"]["setuptools"]["packages"]["find"]["include"]))
    harness = root / "textmix" / "harness"
    folders = {harness, *(p.parent for p in harness.rglob("*.py") if "__pycache__" not in p.parts)}
    wanted = {".".join(f.relative_to(root).parts) for f in folders}
    assert wanted <= found, f"not shipped (a folder without __init__.py?): {sorted(wanted - found)}"
    module, function = config["project"]["scripts"]["textmix"].split(":")
    assert module == "textmix.harness.cli" and callable(getattr(importlib.import_module(module), function))
