"""docs/compatibility.md is rendered from the cells the tests in tests/compat/ declare: a drift fails."""

from __future__ import annotations

from conftest import ROOT

from compat.matrix import ORACLE, REFUSED, REGENERATE, Cell, collect, render

PAGE = ROOT / "docs" / "compatibility.md"


def test_the_page_is_the_rendered_matrix():
    assert PAGE.exists(), f"docs/compatibility.md is missing: run `{REGENERATE}`"
    assert PAGE.read_text() == render(), f"docs/compatibility.md is out of date with tests/compat/: run `{REGENERATE}`"


def test_every_cell_is_rendered_with_its_test():
    cells = collect()
    assert cells, "no compatibility cell is declared"
    page = render(cells)
    for cell in cells:
        assert f"`{cell.test}`" in page


def test_render_marks_each_status_and_rejects_contradictions():
    import pytest

    a = Cell("set-up A", "hidden", ORACLE, "tests/compat/test_a.py::test_a")
    b = Cell("set-up B", "span", REFUSED, "tests/compat/test_b.py::test_b", note="Refused: names the fix.")
    page = render([a, b])
    rows = {line.split(" | ")[0]: line for line in page.splitlines() if line.startswith("| set-up ")}
    assert rows["| set-up A"] == "| set-up A | [✓ 1](../tests/compat/test_a.py) | – |"
    assert rows["| set-up B"] == "| set-up B | – | [refused 2](../tests/compat/test_b.py) |"
    assert "- **set-up B**: Refused: names the fix. (Tests 2.)" in page
    assert "2. `tests/compat/test_b.py::test_b`" in page
    with pytest.raises(ValueError, match="hidden"):
        render([a, Cell("set-up A", "hidden", REFUSED, "tests/compat/test_c.py::test_c")])
