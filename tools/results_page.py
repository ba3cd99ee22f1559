"""Put a sweep's report into a docs page: the part of the page between its two report markers is replaced by
report.md (headings one level down), its pictures copied beside the page, report.csv/json too.

    python tools/results_page.py SWEEP_DIR PAGE PREFIX

SWEEP_DIR holds report.md (`textmix report SWEEP_DIR` rebuilds it); PAGE is a markdown file under docs/ with the
lines `<!-- report: begin -->` and `<!-- report: end -->` (what is outside them is written by hand and kept);
PREFIX names the copies: docs/results/<PREFIX>_<picture>, docs/results/<PREFIX>.csv and .json. Exits with 1 and
a message when a marker is missing or report.md links a picture that is not there.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

BEGIN, END = "<!-- report: begin -->", "<!-- report: end -->"
PICTURE = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+\.png)(\))")


def page_report(report: str, prefix: str) -> tuple[str, list[str]]:
    """(report.md with its headings one level down and picture links under results/<prefix>_, the pictures)."""
    pictures: list[str] = []

    def relink(match: re.Match) -> str:
        pictures.append(match.group(2))
        return f"{match.group(1)}results/{prefix}_{Path(match.group(2)).name}{match.group(3)}"

    lines = [("#" + line) if line.startswith("#") else line for line in report.splitlines()]
    return PICTURE.sub(relink, "\n".join(lines)), pictures


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    sweep, page, prefix = Path(argv[0]), Path(argv[1]), argv[2]
    text = page.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        print(f"{page}: lacks the lines {BEGIN} and {END} around the report's place", file=sys.stderr)
        return 1
    body, pictures = page_report((sweep / "report.md").read_text(encoding="utf-8"), prefix)
    missing = [p for p in pictures if not (sweep / p).exists()]
    if missing:
        print(f"{sweep}/report.md links pictures that are not there: {missing}", file=sys.stderr)
        return 1
    out = page.parent / "results"
    out.mkdir(exist_ok=True)
    for picture in dict.fromkeys(pictures):
        shutil.copyfile(sweep / picture, out / f"{prefix}_{Path(picture).name}")
    for suffix in ("csv", "json"):
        shutil.copyfile(sweep / f"report.{suffix}", out / f"{prefix}.{suffix}")
    head, rest = text.split(BEGIN, 1)
    page.write_text(f"{head}{BEGIN}\n{body}\n{END}{rest.split(END, 1)[1]}", encoding="utf-8")
    print(f"{page}: report of {sweep} ({len(set(pictures))} pictures under {out}/{prefix}_*)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
