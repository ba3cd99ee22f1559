"""Count the stops of the walk of `textmix compare` from the grid to the report.

Runs `textmix compare --preset smoke --methods none --seeds 0 --output_dir <a temporary folder>` (one small real
run, about 20 s) in this process and records two call stacks: the stack at the first call of
`transformers.Trainer.train` (the recipe's training starts; seen through `sys.setprofile`, removed right after)
and the stack when report.md is written (opened for writing, or renamed into place by an atomic write; seen
through an audit hook). A stop is a distinct function of `textmix.harness` on either stack, named by its
qualified name (module + `co_qualname`): a function on both stacks, or twice on one, counts once.
Comprehensions, generator expressions and lambdas are not stops (they belong to the function holding them); nor
are functions of the core (`textmix.trainer`, ...), of transformers or of the standard library.

With `--all`, also the wider figure: every `textmix.harness` function that ran during the whole command (the
profiler then stays on through the training, which makes it slower), and in how many modules.

Usage, from the checkout to measure (its `textmix` must be the one imported; `TEXTMIX_SHARED` set):
    PYTHONPATH=. python tools/walk.py [--all]
Prints both chains (outermost call first) and the count; exit status 1 when a moment was not reached.
"""

from __future__ import annotations

import os
import sys
import tempfile
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
    if frame.f_code.co_name == "train" and frame.f_globals.get("__name__") == "transformers.trainer":
        STACKS.setdefault("training starts (transformers.Trainer.train)", harness_chain(frame))
        if not every:
            sys.setprofile(None)


def on_audit(event: str, args: tuple) -> None:
    name = "report.md written"
    if name in STACKS:
        return
    if event == "open" and isinstance(args[0], (str, os.PathLike)) and os.fspath(args[0]).endswith("report.md"):
        mode, flags = args[1], args[2]
        writing = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(flags & (os.O_WRONLY | os.O_RDWR))
    elif event in ("os.rename", "os.replace"):
        writing = os.fspath(args[1]).endswith("report.md")
    else:
        return
    if writing:
        STACKS[name] = harness_chain(sys._getframe(1))


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
    for moment in ("training starts (transformers.Trainer.train)", "report.md written"):
        chain = STACKS.get(moment)
        if chain is None:
            print(f"{moment}: not reached")
            return 1
        print(f"{moment}: {len(chain)} harness functions on the stack")
        print("".join(f"  {name}\n" for name in chain), end="")
        stops.update(chain)
    print(f"stops (distinct harness functions on the two stacks): {len(stops)}")
    if every:
        print(f"--all: {len(RAN)} harness functions ran, in {len(set(RAN.values()))} modules")
    return 0


if __name__ == "__main__":
    sys.exit(main(every=sys.argv[1:] == ["--all"]))
