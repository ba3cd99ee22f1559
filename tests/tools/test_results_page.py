"""tools/results_page.py: the report lands between the page's markers, headings one level down, pictures copied."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "results_page.py"


def test_the_report_replaces_only_what_lies_between_the_markers(tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "report.md").write_text("# Report\n\n## sst2\n\n![forest](forest_calibration.png)\n#not a heading? yes\n")
    (sweep / "forest_calibration.png").write_bytes(b"png")
    (sweep / "report.csv").write_text("a\n")
    (sweep / "report.json").write_text("{}")
    page = tmp_path / "docs" / "page.md"
    page.parent.mkdir()
    page.write_text("# Mine\nby hand\n<!-- report: begin -->\nold\n<!-- report: end -->\nafter, by hand\n")
    done = subprocess.run([sys.executable, str(TOOL), str(sweep), str(page), "mini"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert page.read_text() == ("# Mine\nby hand\n<!-- report: begin -->\n## Report\n\n### sst2\n\n"
                                "![forest](results/mini_forest_calibration.png)\n##not a heading? yes\n"
                                "<!-- report: end -->\nafter, by hand\n")
    assert (tmp_path / "docs" / "results" / "mini_forest_calibration.png").read_bytes() == b"png"
    assert (tmp_path / "docs" / "results" / "mini.csv").read_text() == "a\n"


def test_a_page_without_markers_or_a_missing_picture_is_refused(tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "report.md").write_text("![x](missing.png)\n")
    page = tmp_path / "page.md"
    page.write_text("no markers\n")
    done = subprocess.run([sys.executable, str(TOOL), str(sweep), str(page), "p"], capture_output=True, text=True)
    assert done.returncode == 1 and "lacks the lines" in done.stderr
    page.write_text("<!-- report: begin -->\n<!-- report: end -->\n")
    done = subprocess.run([sys.executable, str(TOOL), str(sweep), str(page), "p"], capture_output=True, text=True)
    assert done.returncode == 1 and "missing.png" in done.stderr and page.read_text().count("report:") == 2
