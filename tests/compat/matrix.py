"""The compatibility matrix: training set-ups x mixing methods, declared by the tests that check them.

A test in `tests/compat/test_*.py` declares the cells it checks with `compat_cells`:

    @compat_cells("gradient checkpointing (HF, reentrant)", ["embedding", "hidden", "span"])
    def test_checkpointing_equals_the_plain_step(method): ...

    @compat_cells("padding-free batches", ["hidden"], status=REFUSED)
    def test_padding_free_batches_are_refused(method): ...

The decorator parametrises the test over the methods (argument `method`) and records one `Cell` per
method with the test's name, so `docs/compatibility.md` is rendered from what the tests check
(`python tests/compat/matrix.py > docs/compatibility.md`; tests/compat/test_docs.py fails on drift).
A method here is a registry name (`textmix.methods`) or a variant named in VARIANTS.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ORACLE = "oracle"    # equal to an oracle (the same step without the set-up, same draws; or hand-mixed)
REFUSED = "refused"  # refused before the first step, with an error naming the fix

# Method variants that are cells of their own: name -> what it is (shown under the table).
VARIANTS = {
    "regmixup_hidden": "RegMixup (clean + mixed loss) over `hidden`",
    "span_attention": "`span` with `label_weights=\"attention\"`",
    "transmix_cutmix": "`cutmix` with `label_weights=\"attention\"` (TransMix)",
}


@dataclass(frozen=True)
class Cell:
    setup: str
    method: str
    status: str
    test: str  # "tests/compat/test_x.py::test_name"
    note: str = ""


CELLS: list[Cell] = []


def compat_cells(setup: str, methods, status: str = ORACLE, note: str = "", marks=()):
    """Parametrise a test over `methods` (argument `method`) and record each (setup, method) cell."""
    if status not in (ORACLE, REFUSED):
        raise ValueError(f"status must be {ORACLE!r} or {REFUSED!r}, not {status!r}")
    methods = list(methods)

    def decorate(fn):
        module = sys.modules[fn.__module__]
        path = Path(module.__file__).resolve()
        test = f"tests/compat/{path.name}::{fn.__name__}"
        for method in methods:
            CELLS.append(Cell(setup, method, status, test, note))
        params = [pytest.param(m, id=m, marks=marks) for m in methods]
        return pytest.mark.parametrize("method", params)(fn)

    return decorate


def collect() -> list[Cell]:
    """Every cell declared by tests/compat/test_*.py (imports the modules)."""
    here = Path(__file__).resolve().parent
    for parent in (str(here.parent),):
        if parent not in sys.path:
            sys.path.insert(0, parent)
    for path in sorted(here.glob("test_*.py")):
        importlib.import_module(f"compat.{path.stem}")
    return list(dict.fromkeys(CELLS))
