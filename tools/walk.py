"""Count the stops of the walk of `textmix compare` from the grid to the report.

Runs `textmix compare --preset smoke --methods none --seeds 0 --output_dir <a temporary folder>` (one small real
run, about 20 s) in this process and records the call stack at eight moments of the route a task takes:

1. the grid's task mapping is parsed (the first call of a function of `textmix.harness.tasks` under `textmix
   compare`);
2. the runs are planned (the first `Run` made, `textmix.harness.compare.runs`);
3. the task's data file is first read (the grid's checks, before any run);
4. the run reads its data (inside the recipe's run);
5. the recipe's training starts (the first call of `transformers.Trainer.train`; through `sys.setprofile`);
6. the run's results.json is written;
7. the report reads that results.json back;
8. report.md is written.

Files are seen through an audit hook (`open`, `os.rename`, `os.replace`; an atomic write counts at its rename).
A stop is a distinct function of `textmix.harness` on any of those stacks, named by its qualified name (module +
`co_qualname`): a function on several stacks, or twice on one, counts once. Comprehensions, generator
expressions and lambdas are not stops (they belong to the function holding them); nor are functions of the core
(`textmix.trainer`, ...), of transformers or of the standard library.

With `--all`, also the wider figure: every `textmix.harness` function that ran during the whole command (the
profiler then stays on through the training, which makes it slower), and in how many modules.

Usage, from the checkout to measure (its `textmix` must be the one imported; `TEXTMIX_SHARED` set):
    PYTHONPATH=. python tools/walk.py [--all]
Prints every chain (outermost call first) and the count; exit status 1 when a moment was not reached.
"""

from __future__ import annotations

import os
import sys
import tempfile
from inspect import CO_OPTIMIZED
from types import FrameType

STACKS: dict[str, list[str]] = {}
RAN: dict[str, str] = {}  # with --all: every harness function that ran -> its module


def stop(frame: FrameType) -> str | None:
    """The qualified name of the frame's function when it is a stop (see above), else None."""
    module, code = frame.f_globals.get("__name__", ""), frame.f_code
    return f"{module}.{code.co_qualname}" if module.startswith("textmix.harness") and "<" not in code.co_qualname else None


def harness_chain(frame: FrameType | None) -> list[str]:
    """The `textmix.harness` functions on the stack ending at `frame`, outermost first."""
    chain = []
    while frame is not None:
        if name := stop(frame):
            chain.append(name)
        frame = frame.f_back
    return chain[::-1]


def on_call(frame: FrameType, event: str, arg: object, every: bool = False) -> None:
    if event != "call":
        return
    if every and (name := stop(frame)):
        RAN.setdefault(name, frame.f_globals["__name__"])
    module = frame.f_globals.get("__name__")
    if module == "textmix.harness.tasks" and frame.f_code.co_flags & CO_OPTIMIZED and PARSED not in STACKS:
        chain = harness_chain(frame)  # a function's call (not a module or class body) on the grid's route
        if "textmix.harness.cli._compare" in chain:
            STACKS[PARSED] = chain
    if frame.f_code.co_name == "__init__" and module == "textmix.harness.compare.runs" and PLANNED not in STACKS:
        STACKS[PLANNED] = harness_chain(frame.f_back)
    if frame.f_code.co_name == "train" and frame.f_globals.get("__name__") == "transformers.trainer":
        STACKS.setdefault(TRAINING, harness_chain(frame))
        if not every:
            sys.setprofile(None)


TRAINING = "5. training starts (transformers.Trainer.train)"
PARSED, PLANNED = "1. the grid's task mapping parsed", "2. the runs planned (a Run made)"
MOMENTS = (PARSED, PLANNED, "3. the task's data first read (checks)", "4. the run reads its data", TRAINING,
           "6. results.json written", "7. the report reads results.json", "8. report.md written")


def _writing(event: str, args: tuple) -> str | None:
    """The path an audit event writes (an open for writing, or the target of a rename), else None."""
    if event == "open" and isinstance(args[0], (str, os.PathLike)):
        mode, flags = args[1], args[2]
        if any(c in mode for c in "wax+") if isinstance(mode, str) else bool(flags & (os.O_WRONLY | os.O_RDWR)):
            return os.fspath(args[0])
    if event in ("os.rename", "os.replace") and isinstance(args[1], (str, os.PathLike)):
        return os.fspath(args[1])
    return None


def _reading(event: str, args: tuple) -> str | None:
    """The path an audit event opens for reading, else None."""
    if event == "open" and isinstance(args[0], (str, os.PathLike)) and _writing(event, args) is None:
        return os.fspath(args[0])
    return None


def on_audit(event: str, args: tuple) -> None:
    written, read = _writing(event, args), _reading(event, args)
    moment = None
    if read and read.endswith(".tsv") and os.sep + "glue" + os.sep in read:
        moment = MOMENTS[3] if TRAINING in STACKS or MOMENTS[2] in STACKS and _in_run() else MOMENTS[2]
    elif written and written.endswith("results.json") and os.sep + "runs" + os.sep in written:
        moment = MOMENTS[5]
    elif read and read.endswith("results.json") and MOMENTS[5] in STACKS:
        moment = MOMENTS[6]
    elif written and written.endswith("report.md"):
        moment = MOMENTS[7]
    if moment is not None and moment not in STACKS:
        chain = harness_chain(sys._getframe(1))
        if chain:
            STACKS[moment] = chain


def _in_run() -> bool:
    """Whether the stack holds a recipe's run (a function of `textmix.harness` named `run` or `run_*`)."""
    return any(name.rsplit(".", 1)[-1] == "run" or ".run." in name for name in harness_chain(sys._getframe(2)))


def main(every: bool) -> int:
    import textmix
    from textmix.harness.cli import main as textmix_main

    with tempfile.TemporaryDirectory() as out:
        argv = ["compare", "--preset", "smoke", "--methods", "none", "--seeds", "0", "--output_dir", out]
        sys.addaudithook(on_audit)
        sys.setprofile(lambda *event: on_call(*event, every=True)) if every else sys.setprofile(on_call)
        try:
            status = textmix_main(argv)
        finally:
            sys.setprofile(None)
    print(f"\ntextmix from {os.path.dirname(textmix.__file__)}; `textmix {' '.join(argv[:-1])} <tmp>` exited {status}")
    stops: set[str] = set()
    for moment in MOMENTS:
        chain = STACKS.get(moment)
        if chain is None:
            print(f"{moment}: not reached")
            return 1
        print(f"{moment}: {len(chain)} harness functions on the stack")
        print("".join(f"  {name}\n" for name in chain), end="")
        stops.update(chain)
    print(f"stops (distinct harness functions on the {len(MOMENTS)} stacks): {len(stops)}")
    if every:
        print(f"--all: {len(RAN)} harness functions ran, in {len(set(RAN.values()))} modules")
    return 0


if __name__ == "__main__":
    sys.exit(main(every=sys.argv[1:] == ["--all"]))
