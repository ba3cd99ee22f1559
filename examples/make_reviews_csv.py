"""Write textmix/harness/data/reviews/{train,test}.csv (see the README there) from GLUE SST-2's train.tsv:

    python examples/make_reviews_csv.py ../shared/data/glue
"""

import csv
import random
import sys
from pathlib import Path


def main(glue_dir: str) -> None:
    """Sample the rows (seed 0) and write them beside this script."""
    with open(Path(glue_dir) / "SST-2" / "train.tsv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
                if len(r["sentence"].split()) >= 8]
    random.Random(0).shuffle(rows)
    names = {"0": "negative", "1": "positive"}
    out = Path(__file__).resolve().parents[1] / "textmix" / "harness" / "data" / "reviews"
    for name, part in (("train.csv", rows[:2000]), ("test.csv", rows[2000:2800])):
        with open(out / name, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["review", "sentiment"])
            writer.writerows([r["sentence"].strip(), names[r["label"]]] for r in part)


if __name__ == "__main__":
    main(sys.argv[1])
