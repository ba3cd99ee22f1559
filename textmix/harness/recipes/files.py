"""The files a recipe run writes and how: their names, and writes that are atomic and never follow a symlink."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_FILE = "results.json"
PREDICTIONS_FILE = "predictions.npz"
RELIABILITY_FILE = "reliability.png"
TRAIN_TIME_FILE = "textmix_train_time.json"
"""In each checkpoint: the training time up to it, over every attempt (`{"step": N, "train_time_s": t}`)."""
DAMAGED_PREFIX = "damaged-"
"""A checkpoint that failed verification is renamed to `damaged-checkpoint-N` (kept for inspection)."""
RUN_FILE = "textmix_run.json"
"""In each checkpoint: the identity of the run that wrote it (`run_identity`); a run resumes only its own."""
SUPERSEDED_PREFIX = "superseded-"
"""A checkpoint of another configuration is renamed to `superseded-checkpoint-N` (kept, never resumed)."""


def write_atomic(path: str | os.PathLike, write: Callable[[Any], None]) -> None:
    """Write `path` through `write(binary file)`: into a new temporary file of a unique name in the same
    folder (created exclusively, with the umask's permissions: a symlink planted at a temporary name is
    never written through), then renamed over `path` (a symlink at `path` is replaced, not followed).
    The temporary file is removed when `write` fails."""
    import uuid

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)  # the umask applies
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | os.PathLike, payload: Any) -> None:
    """Write `payload` as indented JSON to `path` atomically (`write_atomic`)."""
    text = json.dumps(payload, indent=2, default=str).encode("utf-8")
    write_atomic(path, lambda f: f.write(text))


def save_npz_atomic(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Save plain arrays (no pickled objects) to the `.npz` file `path` atomically (`write_atomic`)."""
    write_atomic(path, lambda f: np.savez(f, **arrays))



def read_results(folder: str | os.PathLike) -> dict[str, Any]:
    """The `results.json` of a finished run in `folder`."""
    path = Path(folder) / RESULTS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: the run in {folder} has not finished; run it (again).")
    return json.loads(path.read_text(encoding="utf-8"))

