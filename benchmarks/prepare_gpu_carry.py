"""Build the folder that `benchmarks/gpu_run.sh` carries to a GPU machine without network, and check it.

    python benchmarks/prepare_gpu_carry.py [--out gpu_carry] [--shared ../shared] [--no_wheels]

What goes in (the GPU machine has torch, transformers, accelerate, scipy, sklearn, matplotlib, pyarrow,
pandas, xxhash, huggingface-hub, but not `datasets`, `evaluate`, `dill`, `multiprocess`):

- `wheels/`: those four, and `fsspec` (datasets pins `fsspec<=` a version the machine's may be newer
  than), at the versions installed here, for the GPU machine's Python 3.12 on x86-64 Linux
  (`pip download --no-deps`; their other needs are on the machine);
- `models/minilm-l6/`: MiniLM-L6 with its weights in float16 (half of the 88 MB float32 file), its
  config saying `dtype: float32` so that `from_pretrained` loads it back in float32 for training; the
  script compares the float16 copy's hidden states and classifier logits with the float32 original's
  on a few sentences and prints the largest difference (an error above `--tolerance`);
- `models/bert-tiny/` (config and tokenizer: the step ratios run it randomly initialised, no weights)
  and `models/smollm2-135m/config.json` (the decoder's shape);
- `glue/<Task>/`: for each task of the `gpu` preset, the full dev set (the test set) and only the
  training rows the preset uses (its validation split and training subset), laid out so that the
  recipe's shuffle of the small file gives the same validation and training rows, in the same order, as
  the shuffle of the full file; checked by loading both through the recipe (`load_data`).

Ends with the folder's size and that of the files git tracks (both travel): an error over 64 MiB.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CARRY_LIMIT = 64 * 2**20
"""What may travel with the work tree to the GPU machine (tracked files and carried folders together)."""

WHEELS = ("datasets", "evaluate", "dill", "multiprocess", "fsspec")
"""Packages the GPU machine lacks (or, fsspec, may have at a version datasets does not accept)."""

GPU_PYTHON = "3.12"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")

SENTENCES = ["a film that is both funny and wise", "the plot goes nowhere, slowly and loudly",
             "i have seen worse, but not often", "Two men are playing chess in a park."]


def download_wheels(out: Path) -> list[Path]:
    """`pip download --no-deps` each of `WHEELS` at the version installed here, for the GPU machine."""
    out.mkdir(parents=True, exist_ok=True)
    specs = [f"{name}=={importlib.metadata.version(name)}" for name in WHEELS]
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
           GPU_PYTHON, "--implementation", "cp", *(f"--platform={p}" for p in PLATFORMS), "-d", str(out), *specs]
    subprocess.run(cmd, check=True)
    wheels = sorted(out.glob("*.whl"))
    names = {w.name.split("-")[0].lower() for w in wheels}
    missing = [n for n in WHEELS if n not in names]
    if missing or len(wheels) != len(WHEELS):
        raise SystemExit(f"expected one wheel each of {WHEELS} in {out}, found {[w.name for w in wheels]}")
    print(f"wheels: {', '.join(w.name for w in wheels)}")
    return wheels


def half_model(source: Path, out: Path, tolerance: float) -> float:
    """Copy the model at `source` with its float weights in float16 (config: load as float32); return the
    largest |difference| of hidden states and classifier logits against the float32 original."""
    import json

    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    out.mkdir(parents=True, exist_ok=True)
    weights = load_file(source / "model.safetensors")
    save_file({k: v.half() if v.is_floating_point() else v for k, v in weights.items()},
              out / "model.safetensors", metadata={"format": "pt"})
    for path in source.iterdir():
        if path.is_file() and path.name not in ("model.safetensors", "config.json"):
            shutil.copy2(path, out / path.name)
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    config["dtype"] = "float32"  # from_pretrained(dtype="auto") then trains in float32, as from the original
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

    tokenizer = AutoTokenizer.from_pretrained(source)
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    worst = 0.0
    for cls, field in ((AutoModel, "last_hidden_state"), (AutoModelForSequenceClassification, "logits")):
        outputs = []
        for folder in (source, out):
            torch.manual_seed(0)  # the same new classifier head for both
            model = cls.from_pretrained(folder).eval()
            if model.dtype != torch.float32:
                raise SystemExit(f"{folder} loads as {model.dtype}, not float32: check its config's dtype")
            with torch.no_grad():
                outputs.append(getattr(model(**batch), field))
        diff = float((outputs[0] - outputs[1]).abs().max())
        scale = float(outputs[0].abs().max())
        print(f"{out.name}: float16 weights vs float32, {field} on {len(SENTENCES)} sentences: max |diff| "
              f"{diff:.2e} (largest |value| {scale:.2f})")
        worst = max(worst, diff)
    if worst > tolerance:
        raise SystemExit(f"float16 copy differs by {worst:.2e} > --tolerance {tolerance}")
    return worst


def copy_config_only(source: Path, out: Path, names: tuple[str, ...]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy2(source / name, out / name)


def glue_subset(task_name: str, glue_dir: Path, out_dir: Path, data: dict) -> tuple[int, int]:
    """Write `out_dir/<Task>/` with the task's full test file(s) and the training rows the recipe uses with
    the preset's `data`, placed so that its shuffle of the small file yields them in the same order.
    Returns (rows written, rows of the full training file)."""
    import numpy as np

    from textmix.harness.data.glue import glue_task, load_glue
    from textmix.harness.data.text import load_data
    from textmix.harness.recipes.glue import DataArguments

    task = glue_task(task_name)
    src, dst = glue_dir / task.folder, out_dir / task.folder
    dst.mkdir(parents=True, exist_ok=True)
    for name in task.test_files.values():
        shutil.copy2(src / name, dst / name)
    args = DataArguments(task_name=task.name, glue_dir=str(glue_dir), **data)
    full = load_glue(task.name, glue_dir)["train"]
    n = len(full)
    n_val = args.validation_split
    n_val = int(round(n_val * n)) if n_val < 1 else int(n_val)
    used = min(n, n_val + (args.max_train_samples or n))
    order = full.add_column("_row", list(range(n))).shuffle(seed=args.split_seed)["_row"][:used]
    with open(src / "train.tsv", encoding="utf-8-sig", newline="") as f:
        lines = f.readlines()
    header, rows = ([], lines) if task.header else (lines[:1], lines[1:])
    rows = [r for r in rows if r.strip()]
    if len(rows) != n:
        raise SystemExit(f"{src / 'train.tsv'}: {len(rows)} lines but {n} rows read: cannot map rows to lines")
    # the recipe's shuffle of `used` rows puts row perm[k] at position k: put the k-th used row there
    perm = np.random.default_rng(args.split_seed).permutation(used)
    placed: list[str] = [""] * used
    for k, row in enumerate(order):
        placed[perm[k]] = rows[row]
    with open(dst / "train.tsv", "w", encoding="utf-8", newline="") as f:
        f.writelines(header + placed)
    small = load_data(DataArguments(task_name=task.name, glue_dir=str(out_dir), **data)).splits
    big = load_data(args).splits
    for split in ("train", "validation", "test"):
        if small[split].to_dict() != big[split].to_dict():
            raise SystemExit(f"{task.name} {split}: the carried rows do not give the recipe's {split} split")
    print(f"glue {task.name}: {used} of {n} training rows (validation {len(big['validation'])}, train "
          f"{len(big['train'])}: the recipe's splits, checked), test {len(big['test'])}")
    return used, n


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def tracked_size() -> int:
    """Bytes of the files git tracks in this checkout (they travel with the carried folder)."""
    try:
        names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return 0
    return sum((ROOT / n).stat().st_size for n in names.decode().split("\0") if n and (ROOT / n).is_file())


def main() -> None:
    from textmix.harness.compare.presets import PRESETS
    from textmix.harness.paths import shared_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "gpu_carry"), help="the folder to build (ignored by git)")
    parser.add_argument("--shared", default=None, help="the shared folder (default: textmix's shared_dir())")
    parser.add_argument("--preset", default="gpu", help="the preset whose GLUE rows are carried")
    parser.add_argument("--no_wheels", action="store_true", help="keep the wheels already in --out/wheels")
    parser.add_argument("--tolerance", type=float, default=1e-2, help="largest |diff| allowed for float16 weights")
    args = parser.parse_args()
    shared = Path(args.shared) if args.shared else shared_dir()
    out = Path(args.out)
    preset = PRESETS[args.preset]
    for sub in ("models", "glue"):
        shutil.rmtree(out / sub, ignore_errors=True)
    if not args.no_wheels:
        shutil.rmtree(out / "wheels", ignore_errors=True)
        download_wheels(out / "wheels")
    half_model(shared / "models" / "minilm-l6", out / "models" / "minilm-l6", args.tolerance)
    copy_config_only(shared / "models" / "bert-tiny", out / "models" / "bert-tiny",
                     ("config.json", "tokenizer.json", "tokenizer_config.json"))
    copy_config_only(shared / "models" / "smollm2-135m", out / "models" / "smollm2-135m", ("config.json",))
    for task in preset["tasks"]:
        glue_subset(task, shared / "data" / "glue", out / "glue", preset["data"])
    carried, tracked = folder_size(out), tracked_size()
    total = carried + tracked
    print(f"{out}: {carried / 2**20:.1f} MiB; with the {tracked / 2**20:.1f} MiB git tracks: {total / 2**20:.1f} MiB "
          f"of the {CARRY_LIMIT / 2**20:.0f} MiB that may travel")
    if total > CARRY_LIMIT:
        raise SystemExit(f"too large: {total / 2**20:.1f} MiB > {CARRY_LIMIT / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
