"""Where the local data and weights live (the `shared` folder), decided in one place."""

from __future__ import annotations

import os
from pathlib import Path


def shared_dir() -> Path:
    """The folder holding `models/` and `data/` (local weights and data sets, used instead of the hub).

    Resolved in this order:

    1. `$TEXTMIX_SHARED`, if set (and not empty);
    2. else a `shared` folder beside the checkout the package was imported from
       (`Path(textmix.__file__).resolve().parents[2] / "shared"`, for editable installs), if it exists;
    3. else `../shared` from the working directory.

    The path is returned whether or not it exists; callers say what is missing.
    """
    env = os.environ.get("TEXTMIX_SHARED")
    if env:
        return Path(env)
    import textmix

    beside = Path(textmix.__file__).resolve().parents[2] / "shared"
    if beside.is_dir():
        return beside
    return Path.cwd().parent / "shared"
