"""The `textmix` command: `textmix compare` runs a sweep, `textmix report` rebuilds its report, `textmix train
RECIPE ...` runs one recipe. Errors are one message on stderr (exit status 2 for bad input, 1 for failed runs).
"""

from __future__ import annotations

import argparse
import os
import sys


def build_parser() -> argparse.ArgumentParser:
    """The `textmix` argument parser (subcommands `compare`, `train` and `report`)."""
    from .compare.presets import PRESETS, grid_methods

    parser = argparse.ArgumentParser(prog="textmix", description="Mixup/CutMix for Hugging Face models.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (or TEXTMIX_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True)
    presets = "; ".join(f"{name}: {p['description'].rstrip('.')}" for name, p in PRESETS.items())
    cmp = sub.add_parser("compare", help="run a tasks x methods x seeds grid and report calibration",
                         description=f"Presets -- {presets}")
    cmp.add_argument("--preset", choices=sorted(PRESETS), help="a built-in grid")
    cmp.add_argument("--config", help="a grid as .yaml/.json (merged over the preset, if both are given)")
    cmp.add_argument("--output_dir", required=True, help="sweep folder: runs, report.md/.csv/.json, reliability.png")
    cmp.add_argument("--glue_dir", help="GLUE folder in the layout of GLUE's download script")
    cmp.add_argument("--model_name_or_path", help="hub id or local folder of the model")
    cmp.add_argument("--tasks", nargs="+", help="override the grid's tasks: GLUE names, or names of the grid's own "
                     "tasks (e.g. --preset quick --tasks sst2 digits)")
    cmp.add_argument("--methods", nargs="+", metavar="METHOD",
                     help=f"override the grid's methods: {', '.join(grid_methods())} (each runs on the tasks it "
                          "fits: text methods on text and token tasks, image methods on image tasks)")
    cmp.add_argument("--seeds", nargs="+", type=int, help="override the grid's seeds")
    cmp.add_argument("--dry_run", action="store_true", help="check the grid, print the runs and exit")
    cmp.add_argument("--shard", metavar="I/N",
                     help="train only shard I of N (every N-th run of the grid from the I-th on), e.g. for a SLURM "
                          "job array: --shard $((SLURM_ARRAY_TASK_ID + 1))/$SLURM_ARRAY_TASK_COUNT")
    cmp.add_argument("--backend", choices=["local", "ray"], default="local",
                     help="local: one run after the other; ray: runs in parallel on Ray (pip install 'textmix[ray]'), "
                          "one GPU per run where there are GPUs")
    cmp.add_argument("--address", help="with --backend ray: the address of a running Ray cluster (default: start "
                                       "Ray on this machine); the sweep folder must be on a file system it shares")
    cmp.add_argument("--workers", type=int, help="with --backend ray: runs at once (default: one per CPU, or per GPU)")
    from .recipes.registry import recipes

    listed = ", ".join(f"{r.name} ({r.modality})" for r in recipes().values())
    train = sub.add_parser(
        "train", help=f"train and evaluate one model with a recipe: {listed}",
        description=f"Recipes: {listed}. The arguments after the recipe are the recipe's own (those of its "
                    "launcher under recipes/, named below; `textmix train RECIPE --help` lists them, docs/recipes.md "
                    "groups them), or one .json/.yaml file of them. For several processes use the launchers: "
                    "torchrun / accelerate launch recipes/run_glue.py (run_ner.py, run_image_classification.py).")
    names = train.add_subparsers(dest="recipe", required=True, metavar="RECIPE")
    for recipe in recipes().values():
        recipe.make_parser(names)
    rep = sub.add_parser("report", help="rebuild a sweep's report from the results on disk")
    rep.add_argument("sweep_dir")
    rep.add_argument("--baseline", default="none", help="method the others are compared with")
    return parser


def _report(args: argparse.Namespace) -> int:
    from .report import build_report

    summary = build_report(args.sweep_dir, baseline=args.baseline)
    print(f"report: {args.sweep_dir}/report.md")
    for skipped in summary.get("skipped", []):
        print(f"skipped {skipped['file']}: {skipped['reason']}", file=sys.stderr)
    incomplete = _say_incomplete(summary)
    if summary.get("clashes"):
        for clash in summary["clashes"]:
            print(f"clash: {clash['task']}/{clash['method']}: {clash['reason']} ({len(clash['folders'])} runs, "
                  "left out of the report)", file=sys.stderr)
        print("runs that claim the same task, method and seed (or differ in configuration) are not merged; "
              "move one set away or re-run them so that their method names differ.", file=sys.stderr)
        return 1
    return 1 if incomplete else 0


def _say_incomplete(summary: dict) -> bool:
    """Print the sweep's incomplete runs (left out of the means) to stderr; whether there were any."""
    for run in summary.get("incomplete") or []:
        print(f"incomplete: {run['task']}/{run['method']}/seed{run['seed']}: {run['reason']} (left out of the "
              f"means; {run['folder']})", file=sys.stderr)
    return bool(summary.get("incomplete"))


def _compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .compare.execute import compare
    from .compare.grid import load_grid
    from .compare.runs import parse_shard
    from .compare.sweep import parse_sweep

    grid = load_grid(args.preset, args.config, validate=False, glue_dir=args.glue_dir,
                     model_name_or_path=args.model_name_or_path, tasks=args.tasks, methods=args.methods,
                     seeds=args.seeds)
    shard = parse_shard(args.shard)
    if args.backend != "ray" and (args.address or args.workers):
        raise ValueError("--address and --workers are for --backend ray.")
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}.")
    if args.backend == "ray":
        from .backends import ray_available

        if not ray_available():
            raise ImportError("--backend ray needs ray: pip install 'textmix[ray]'.")
    summary = compare(parse_sweep(grid), args.output_dir, dry_run=args.dry_run, shard=shard, backend=args.backend,
                      address=args.address, workers=args.workers)  # checked whole first: a GridError lists every problem
    if summary.get("dry_run"):
        return 0
    if summary.get("pending"):
        print(f"no report yet: every run without results ({len(summary['locked'])}) is being trained by another "
              f"process (locked, see above); run `textmix report {args.output_dir}` when they are done.",
              file=sys.stderr)
        return 0
    print(f"report: {args.output_dir}/report.md")
    failures = summary.get("failures") or []
    if failures:
        print(f"{len(failures)} of {summary.get('n_runs', '?')} runs failed; the errors are in "
              f"{Path(args.output_dir) / 'failures.json'}, the tracebacks in each run's error.log "
              f"(first: {failures[0].get('log', '?')}).", file=sys.stderr)
        return 1
    if _say_incomplete(summary) or summary.get("clashes"):
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run `textmix` with `argv` (default: the command line); returns the exit status."""
    from .checks import friendly_errors, missing_compare_extra

    if missing := missing_compare_extra():  # before the parser, which reads the presets
        print(f"textmix: error: {missing}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    if args.command == "train":  # the recipe's command line, with its own error handling (as its launcher's)
        if args.debug:
            os.environ["TEXTMIX_DEBUG"] = "1"
        return args.recipe.cli(list(args.recipe_args), prog=f"textmix train {args.recipe.name}")
    command = _report if args.command == "report" else _compare
    return friendly_errors(command, args, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
