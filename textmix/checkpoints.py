"""Checkpoints of `MixTrainer`: the mixer's state, which checkpoints are complete, and a transformers-5
resume fix for weights saved under legacy names."""

from __future__ import annotations

import json
import os
import uuid
import warnings
from pathlib import Path

from torch import nn

MIXER_STATE_FILE = "textmix_mixer_rank{rank}.pt"
"""Each process's mixer state in a checkpoint folder (loaded with `weights_only=True`)."""

COMPLETE_MARKER = "textmix_complete"
"""Written by MixTrainer after everything else of a checkpoint: the checkpoint is complete. It holds the
size of every file written before it, so a file truncated or lost later is noticed."""


def write_complete_marker(folder: str | os.PathLike) -> None:
    """Mark the checkpoint `folder` complete, recording the size of each of its files (atomically)."""
    folder = Path(folder)
    sizes = {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file() and p.name != COMPLETE_MARKER}
    tmp = folder / f".{COMPLETE_MARKER}.{uuid.uuid4().hex}.tmp"  # a new file: never written through a symlink
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "w", encoding="utf-8") as f:
        f.write(json.dumps({"complete": True, "sizes": sizes}))
    os.replace(tmp, folder / COMPLETE_MARKER)


def checkpoint_problem(folder: str | os.PathLike) -> str | None:
    """Why a marked checkpoint is not complete (a file missing, or of another size than written), or None."""
    folder = Path(folder)
    try:
        sizes = json.loads((folder / COMPLETE_MARKER).read_text(encoding="utf-8")).get("sizes", {})
    except (OSError, ValueError, AttributeError):
        return None  # no marker, or one of an earlier version: nothing to compare
    for name, size in sizes.items():
        path = folder / name
        if not path.is_file():
            return f"{path} is missing"
        if path.stat().st_size != size:
            return f"{path} has {path.stat().st_size} bytes where {size} were written"
    return None

_LEGACY_SUFFIXES = ((".gamma", ".weight"), (".beta", ".bias"))


def _renamer(model: nn.Module):
    """The model's own load-time renaming of checkpoint keys (transformers 5's conversion mapping), or None."""
    try:
        from transformers.conversion_mapping import get_model_conversion_mapping
        from transformers.core_model_loading import WeightConverter, WeightRenaming, rename_source_key
    except ImportError:  # another transformers version: only the legacy suffixes below
        return None
    try:
        transforms = getattr(model, "_weight_conversions", None) or get_model_conversion_mapping(model)
    except Exception:  # a model transformers cannot map: only the legacy suffixes below
        return None
    renamings = [t for t in transforms if isinstance(t, WeightRenaming)]
    converters = [t for t in transforms if isinstance(t, WeightConverter)]
    prefix = getattr(model, "base_model_prefix", None)
    own = model.state_dict()

    def rename(key: str) -> str:
        return rename_source_key(key, renamings, converters, prefix, own)[0]

    return rename


def reload_legacy_named_weights(checkpoint: str, model: nn.Module) -> None:
    """Load checkpoint tensors saved under names the model no longer uses into the model.

    transformers 5.x saves weights under the names a model was loaded with or under its hub
    names (old BERT checkpoints: LayerNorm `gamma`/`beta`; ViT: `vit.encoder.layer.N...`), but the
    Trainer's resume loads the file with `strict=False` under the current names, so those weights
    would silently keep their pre-resume values. Keys are renamed with the model's own conversion
    mapping, then the legacy suffixes; a key that still matches nothing is an error.
    """
    from safetensors.torch import load_file

    folder = Path(checkpoint)
    files = [folder / "model.safetensors"] if (folder / "model.safetensors").exists() else []
    index = folder / "model.safetensors.index.json"
    if index.exists():
        files = [folder / f for f in sorted(set(json.loads(index.read_text())["weight_map"].values()))]
    if not files:
        return
    own = model.state_dict()
    rename = None
    renamed, unknown = {}, []
    for file in files:
        for key, tensor in load_file(str(file)).items():
            if key in own:
                continue
            if rename is None:
                rename = _renamer(model) or (lambda k: k)
            new = rename(key)
            for old, current in _LEGACY_SUFFIXES:
                if new.endswith(old):
                    new = new[: -len(old)] + current
            if new in own:
                renamed[new] = tensor
            else:
                unknown.append(key)
    if unknown:
        raise RuntimeError(
            f"checkpoint {checkpoint} has weights the model does not know ({unknown[:5]}...): resuming would "
            "silently keep stale values. Resume with the model class and config that wrote the checkpoint."
        )
    if renamed:
        model.load_state_dict(renamed, strict=False)


def last_complete_checkpoint(output_dir: str | os.PathLike) -> str | None:
    """The newest `checkpoint-N` folder that was written to the end, or None.

    A checkpoint counts as complete once MixTrainer's marker is in it (or, in checkpoints of
    earlier versions, the mixer state): MixTrainer writes it after the Trainer has saved weights,
    optimizer, scheduler, RNG and trainer state, so a run killed while saving falls back to the
    previous checkpoint. A marked checkpoint whose files changed size or went missing since is
    skipped, with a warning naming the file.
    """
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    done = [p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()
            and ((p / COMPLETE_MARKER).exists() or (p / MIXER_STATE_FILE.format(rank=0)).exists())
            and (p / "trainer_state.json").exists()]
    for p in sorted(done, key=lambda p: int(p.name.split("-")[-1]), reverse=True):
        problem = checkpoint_problem(p)
        if problem is None:
            return str(p)
        warnings.warn(f"skipping {p}: {problem}; using an earlier checkpoint.", stacklevel=2)
    return None
