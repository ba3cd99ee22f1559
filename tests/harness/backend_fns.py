"""Top-level functions that tests/harness/test_backends.py sends to Ray workers (which import this module)."""

from __future__ import annotations

import os
import time
from pathlib import Path

ENV_NAME = "TEXTMIX_TEST_BACKEND_ENV"
"""The variable the tests pass in `env`; `work` reports the value its process sees."""

CRASH = -2
"""The item on which `work` kills its own process (a worker crash)."""

BARRIER_ENV = "TEXTMIX_TEST_BARRIER"
"""The variable naming the folder of `work`'s barrier; unset: no barrier."""

BARRIER_PARTIES = 2
"""How many calls of `work` must be alive at once to pass the barrier."""

BARRIER_TIMEOUT_S = 300.0
"""How long a call of `work` waits at the barrier for the others (generous: a loaded machine is slow, not wrong)."""


def work(item: int) -> dict:
    """Report `(pid, item * 2)`, `ENV_NAME`, torch's threads and, under `BARRIER_ENV`, what the call saw at a
    file barrier: it writes `<pid>-<item>` into that folder and waits (up to `BARRIER_TIMEOUT_S`) until
    `BARRIER_PARTIES` calls have written theirs; `others` lists the files of the other calls it saw while it
    was waiting (they were alive at the same time as this one), `waited` whether it gave up.

    A negative item raises ValueError, except `CRASH`, which ends the process without a word.
    """
    if item == CRASH:
        os._exit(3)
    if item < 0:
        raise ValueError(f"negative item {item}")
    import torch

    out = {"pid": os.getpid(), "value": item * 2, "env": os.environ.get(ENV_NAME), "threads": torch.get_num_threads()}
    folder = os.environ.get(BARRIER_ENV)
    if folder:
        mine = f"{os.getpid()}-{item}"
        (Path(folder) / mine).write_text("")
        deadline = time.monotonic() + BARRIER_TIMEOUT_S
        while len(arrived := {p.name for p in Path(folder).iterdir()}) < BARRIER_PARTIES:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        out.update(others=sorted(arrived - {mine}), timed_out=len(arrived) < BARRIER_PARTIES)
    return out


def read_env(name: str) -> str | None:
    """The value of the environment variable `name` in the calling process."""
    return os.environ.get(name)
