"""Where the local data and weights live (the `shared` folder), decided in one place."""

from __future__ import annotations

import os
from pathlib import Path


def shared_dir() -> Path:
    """The folder holding `models/` and `data/` (local weights and data sets, used instead of the hub):
    `$TEXTMIX_SHARED` if set, else a `shared` folder beside the checkout textmix was imported from (editable
    installs) if it exists, else `../shared` from the working directory; returned whether or not it exists."""
    env = os.environ.get("TEXTMIX_SHARED")
    if env:
        return Path(env)
    import textmix

    beside = Path(textmix.__file__).resolve().parents[2] / "shared"
    return beside if beside.is_dir() else Path.cwd().parent / "shared"
