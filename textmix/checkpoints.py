"""Checkpoints of `MixTrainer`: the mixer's state, which checkpoints are complete, and a transformers-5
resume fix for weights saved under legacy names."""

from __future__ import annotations

import json
import os
from pathlib import Path

from torch import nn

MIXER_STATE_FILE = "textmix_mixer_rank{rank}.pt"
"""Each process's mixer state in a checkpoint folder (loaded with `weights_only=True`)."""

COMPLETE_MARKER = "textmix_complete"
"""Written by MixTrainer after everything else of a checkpoint: the checkpoint is complete."""

_LEGACY_SUFFIXES = ((".gamma", ".weight"), (".beta", ".bias"))


def reload_legacy_named_weights(checkpoint: str, model: nn.Module) -> None:
    """Load checkpoint tensors saved under legacy names (LayerNorm `gamma`/`beta`) into the model.

    transformers 5.x writes the names a model was loaded with (old BERT checkpoints use
    gamma/beta), but the Trainer's resume loads the file with `strict=False` under the current
    names, so those LayerNorms would silently keep their pre-resume values.
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
    renamed, unknown = {}, []
    for file in files:
        for key, tensor in load_file(str(file)).items():
            if key in own:
                continue
            new = key
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
    previous checkpoint.
    """
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    done = [p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()
            and ((p / COMPLETE_MARKER).exists() or (p / MIXER_STATE_FILE.format(rank=0)).exists())
            and (p / "trainer_state.json").exists()]
    return str(max(done, key=lambda p: int(p.name.split("-")[-1]))) if done else None
