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

# Method variants that are cells of their own: name -> (their MixConfig fields, what it is: shown under the table).
VARIANTS = {
    "regmixup_hidden": ({"method": "hidden", "clean_weight": 1.0}, "RegMixup (clean + mixed loss) over `hidden`"),
    "span_attention": ({"method": "span", "label_weights": "attention"}, "`span` with `label_weights=\"attention\"`"),
    "transmix_cutmix": ({"method": "cutmix", "label_weights": "attention"},
                        "`cutmix` with `label_weights=\"attention\"` (TransMix)"),
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
    # by file (stable: declaration order within one), whichever test modules pytest imported first
    return sorted(dict.fromkeys(CELLS), key=lambda c: c.test.partition("::")[0])


MARK = {ORACLE: "✓", REFUSED: "refused"}
REGENERATE = "python tests/compat/matrix.py > docs/compatibility.md"
GPU_ONLY = ("CUDA fp16 autocast + GradScaler, CUDA `torch.compile` (inductor) and flash-attention with packed "
            "`cu_seqlens` need a GPU: [benchmarks/gpu_compat.py](../benchmarks/gpu_compat.py) checks them, run by "
            "`benchmarks/gpu_run.sh`, and prints its own table of cell -> result.")


def _columns(cells: list[Cell]) -> list[str]:
    from textmix.methods import method_names

    declared = {c.method for c in cells}
    order = [m for m in method_names() if m in declared]
    for variant in VARIANTS:  # each variant right after the last column of its base method
        if variant in declared:
            bases = [m for m in order if variant.startswith(m + "_") or variant.endswith("_" + m)]
            base = max(bases, key=len, default=None)
            order.insert(len(order) if base is None else order.index(base) + 1, variant)
    return order + sorted(declared - set(order))


def render(cells: list[Cell] | None = None) -> str:
    """docs/compatibility.md: the set-up x method table of `cells` (default: `collect()`), each mark numbered
    and linked to the test that says so, then the tests, the set-ups with their notes, and the variants."""
    cells = collect() if cells is None else cells
    seen: dict[tuple[str, str], Cell] = {}
    for cell in cells:
        other = seen.setdefault((cell.setup, cell.method), cell)
        if other.status != cell.status:
            raise ValueError(f"cell ({cell.setup}, {cell.method}) is {other.status} in {other.test} "
                             f"but {cell.status} in {cell.test}")
    setups = list(dict.fromkeys(c.setup for c in cells))
    number = {test: i for i, test in enumerate(dict.fromkeys(c.test for c in cells), 1)}
    columns = _columns(cells)
    lines = [
        "# Compatibility: training set-ups x mixing methods",
        "",
        f"<!-- Generated from the tests in tests/compat/ by `{REGENERATE}`; do not edit. -->",
        "",
        "Each cell is checked by a test in [tests/compat/](../tests/compat/), on tiny random models on the CPU, "
        "in CI: **✓** the step equals an oracle — the same step without the set-up, with the same draws, or a "
        "hand-mixed reference — within the tolerance stated under [Set-ups](#set-ups); **refused** the set-up "
        "is refused before the first step, with an error that names the fix; **–** not applicable or not "
        "checked. The number after a mark is its test (under [Tests](#tests)); the mark links to the file.",
        "",
        "| set-up | " + " | ".join(f"`{m}`" for m in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for setup in setups:
        row = []
        for method in columns:
            cell = seen.get((setup, method))
            path = cell.test.partition("::")[0] if cell else ""
            row.append(f"[{MARK[cell.status]} {number[cell.test]}](../{path})" if cell else "–")
        lines.append(f"| {setup} | " + " | ".join(row) + " |")
    lines += ["", "## Set-ups", ""]
    for setup in setups:
        mine = [c for c in cells if c.setup == setup]
        notes = " ".join(dict.fromkeys(c.note for c in mine if c.note))
        tests = ", ".join(str(number[t]) for t in dict.fromkeys(c.test for c in mine))
        lines.append(f"- **{setup}**: {notes + ' ' if notes else ''}(Tests {tests}.)")
    lines += ["", "## Tests", ""]
    lines += [f"{i}. `{test}`" for test, i in number.items()]
    shown = [v for v in VARIANTS if v in columns]
    if shown:
        lines += ["", "## Variants", ""]
        lines += [f"- `{v}`: {VARIANTS[v][1]}." for v in shown]
    lines += ["", "## GPU-only set-ups", "", GPU_ONLY, ""]
    return "\n".join(lines)


if __name__ == "__main__":
    here = Path(__file__).resolve().parent  # tests/compat, on sys.path as the script's folder: the test modules
    sys.path[:] = [str(here.parent)] + [p for p in sys.path if Path(p or ".").resolve() != here]  # import as compat.*
    from compat.matrix import render as _render  # the module the test modules fill, not this __main__

    sys.stdout.write(_render())
