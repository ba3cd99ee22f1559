"""Top-level functions that tests/harness/test_backends.py sends to Ray workers (which import this module)."""

from __future__ import annotations

import os
import time

ENV_NAME = "TEXTMIX_TEST_BACKEND_ENV"
"""The variable the tests pass in `env`; `work` reports the value its process sees."""

CRASH = -2
"""The item on which `work` kills its own process (a worker crash)."""


def work(item: int) -> dict:
    """Sleep ~1 s and report `(pid, item * 2)`, start/end times, `ENV_NAME` and torch's threads.

    A negative item raises ValueError, except `CRASH`, which ends the process without a word.
    """
    if item == CRASH:
        os._exit(3)
    if item < 0:
        raise ValueError(f"negative item {item}")
    start = time.time()
    time.sleep(1.0)
    import torch

    return {"pid": os.getpid(), "value": item * 2, "start": start, "end": time.time(),
            "env": os.environ.get(ENV_NAME), "threads": torch.get_num_threads()}


def read_env(name: str) -> str | None:
    """The value of the environment variable `name` in the calling process."""
    return os.environ.get(name)
