"""The `textmix` command: `textmix compare` runs a sweep, `textmix report` rebuilds its report."""

from __future__ import annotations

import argparse
import json
import sys


def build_parser() -> argparse.ArgumentParser:
    from .compare import PRESETS, grid_methods

    parser = argparse.ArgumentParser(prog="textmix", description="Mixup/CutMix for Hugging Face models.")
    sub = parser.add_subparsers(dest="command", required=True)
    presets = "; ".join(f"{name}: {p['description']}" for name, p in PRESETS.items())
    cmp = sub.add_parser("compare", help="run a tasks x methods x seeds grid and report calibration",
                         description=f"Presets -- {presets}")
    cmp.add_argument("--preset", choices=sorted(PRESETS), help="a built-in grid")
    cmp.add_argument("--config", help="a grid as .yaml/.json (merged over the preset, if both are given)")
    cmp.add_argument("--output_dir", required=True, help="sweep folder: runs, report.md/.csv/.json, reliability.png")
    cmp.add_argument("--glue_dir", help="GLUE folder in the layout of GLUE's download script")
    cmp.add_argument("--model_name_or_path", help="hub id or local folder of the model")
    cmp.add_argument("--tasks", nargs="+", help="override the grid's tasks")
    cmp.add_argument("--methods", nargs="+", metavar="METHOD",
                     help=f"override the grid's methods: {', '.join(grid_methods())}")
    cmp.add_argument("--seeds", nargs="+", type=int, help="override the grid's seeds")
    cmp.add_argument("--dry_run", action="store_true", help="print the runs and exit")
    rep = sub.add_parser("report", help="rebuild a sweep's report from the results on disk")
    rep.add_argument("sweep_dir")
    rep.add_argument("--baseline", default="none", help="method the others are compared with")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "report":
        from .report import build_report

        build_report(args.sweep_dir, baseline=args.baseline)
        print(f"report: {args.sweep_dir}/report.md")
        return 0
    from pathlib import Path

    from .compare import compare, load_grid, plan

    grid = load_grid(args.preset, args.config, glue_dir=args.glue_dir, model_name_or_path=args.model_name_or_path,
                     tasks=args.tasks, methods=args.methods, seeds=args.seeds)
    if args.dry_run:
        for run in plan(grid, Path(args.output_dir)):
            print(json.dumps({"task": run.task, "method": run.method, "seed": run.seed, "done": run.done}))
        return 0
    summary = compare(grid, args.output_dir)
    print(f"report: {args.output_dir}/report.md")
    if summary.get("failures"):
        print(f"{len(summary['failures'])} run(s) failed; see {args.output_dir}/failures.json", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
