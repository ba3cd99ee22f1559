"""Resuming a recipe run: complete and loadable checkpoints, the run identity each stores, the one to resume
from (damaged and superseded ones moved aside), and the training time and loss across attempts."""

from __future__ import annotations

import json
import os
import struct
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import runfile
from ..checks import InputError, notice
from ..runfile import DAMAGED_PREFIX, RUN_FILE, SUPERSEDED_PREFIX, TRAIN_TIME_FILE, write_json_atomic


class CheckpointError(InputError):
    """A checkpoint that cannot be resumed from (a file is truncated, missing or unreadable)."""


def _step(folder: Path) -> int:
    return int(folder.name.rsplit("-", 1)[1])


def complete_checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """The `checkpoint-N` folders of `output_dir` that MixTrainer marked complete, newest first."""
    from textmix.checkpoints import COMPLETE_MARKER, MIXER_STATE_FILE

    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    done = [p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()
            and ((p / COMPLETE_MARKER).exists() or (p / MIXER_STATE_FILE.format(rank=0)).exists())
            and (p / "trainer_state.json").exists()]
    return sorted(done, key=_step, reverse=True)


def _check_safetensors(path: Path) -> None:
    """Raise ValueError unless the header of the .safetensors file `path` is readable and its tensors fit the file."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"{size} bytes: too short for a header")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8:
            raise ValueError(f"header of {n} bytes, but the file has {size}: truncated")
        header = json.loads(f.read(n))
    end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    if 8 + n + end != size:
        raise ValueError(f"the tensors need {8 + n + end} bytes, the file has {size}: truncated")


_FULL_LOAD_LIMIT = 256 * 2**20  # larger `.pt` / `.pth` files are verified memory-mapped (not read in full)


def verify_checkpoint(checkpoint: str | os.PathLike) -> str | None:
    """Why `checkpoint` cannot be resumed from, naming the file, or None when everything loads:
    weights (`*.safetensors` headers and sizes), `*.pt` / `*.pth` states (`torch.load(weights_only=True)`,
    memory-mapped above `_FULL_LOAD_LIMIT`) and the JSON files (trainer state, training time, index)."""
    import torch

    folder = Path(checkpoint)
    if not folder.is_dir():
        return f"{folder} does not exist."
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("pytorch_model*.bin")):
        return f"{folder} holds no weights (model.safetensors)."
    try:
        from transformers.trainer_pt_utils import safe_globals
    except ImportError:  # another transformers version: plain weights_only loading
        import contextlib

        safe_globals = contextlib.nullcontext
    for path in sorted(folder.iterdir()):
        try:
            if path.suffix == ".safetensors":
                _check_safetensors(path)
            elif path.suffix in (".pt", ".pth"):
                big = path.stat().st_size > _FULL_LOAD_LIMIT  # then its structure only: a truncation still fails
                with safe_globals():
                    torch.load(path, weights_only=True, map_location="cpu", mmap=big)
            elif path.suffix == ".json":
                json.loads(path.read_text(encoding="utf-8"))
        except Exception as err:  # noqa: BLE001 - any failure to load means the file is damaged
            return f"{folder.name}/{path.name} does not load ({type(err).__name__}: {str(err)[:200]})"
    return None


def run_identity(header: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """What makes a run this run, stored with its checkpoints (`RUN_FILE`): `runfile.identity` of its arguments
    and its model's and data's content, with the grid's run key (`grid_key`, runs of `textmix compare`)."""
    from ..fingerprints import data_fingerprint, model_fingerprint

    plain = json.loads(json.dumps(dict(config), default=str))
    model_id = (plain.get("model") or {}).get("model_name_or_path")
    inputs = {"model": model_fingerprint(str(model_id)) if model_id else "from scratch",
              "data": data_fingerprint(plain.get("data") or {})}
    return {"grid_key": header.get("grid_key"), **runfile.identity(plain, inputs)}


def identity_changes(stored: Mapping[str, Any] | None, identity: Mapping[str, Any]) -> list[str]:
    """How the run `identity` differs from the `stored` one of a checkpoint, one entry per changed argument
    (`training.learning_rate: 0.0001 -> 0.0003`, `content of the data: ...`); [] when it is the same run. Two runs of
    a grid are the same when their run keys are; a checkpoint without a stored identity is of an unknown run."""
    if not isinstance(stored, Mapping) or not isinstance(stored.get("inputs"), Mapping):
        return [f"the checkpoint does not record the configuration it was trained with ({RUN_FILE})"]
    if stored.get("grid_key") and stored.get("grid_key") == identity.get("grid_key"):
        return []
    old, new = (_flat({k: v for k, v in side.items() if k not in ("grid_key", "inputs")}) for side in (stored, identity))
    old.update(_flat(stored["inputs"], "content of the "))
    new.update(_flat(identity.get("inputs") or {}, "content of the "))
    changes = [f"{k}: {old.get(k, '(not set)')!r} -> {new.get(k, '(not set)')!r}"
               for k in sorted(set(old) | set(new)) if old.get(k, _UNSET) != new.get(k, _UNSET)]
    if not changes and stored.get("grid_key") != identity.get("grid_key"):
        changes = [f"the model's or the data's files (run key {stored.get('grid_key')} -> {identity.get('grid_key')})"]
    return changes


_UNSET = object()


def _flat(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _read_json(path: Path) -> Any:
    """The JSON in `path`, or {} when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _move_aside(checkpoint: Path, prefix: str, training_args: Any) -> str:
    """Rename `checkpoint` to `<prefix>checkpoint-N` (main process only); says where it went."""
    if getattr(training_args, "process_index", 0) != 0:
        return "left to the main process"
    aside = checkpoint.with_name(prefix + checkpoint.name)
    try:
        if aside.exists():
            import shutil

            shutil.rmtree(aside)
        checkpoint.rename(aside)
        return f"moved to {aside.name}"
    except OSError as err:
        return f"could not be moved aside ({err})"


def resume_checkpoint(training_args: Any, identity: Mapping[str, Any] | None = None) -> str | None:
    """The checkpoint to resume from: `--resume_from_checkpoint` if given (an error naming the file when it does
    not load; of another configuration: said, and resumed as asked), else the newest complete checkpoint in
    `output_dir` that loads and (given `identity`) was written by this run, else None. Damaged ones and ones of
    another configuration are moved aside (`DAMAGED_PREFIX`, `SUPERSEDED_PREFIX`), with a message why."""
    resume = training_args.resume_from_checkpoint
    if resume is not None and resume is not True:
        problem = verify_checkpoint(resume)
        if problem:
            raise CheckpointError(f"--resume_from_checkpoint {resume}: {problem}. Give another checkpoint, or "
                                  "leave the option out to resume from the newest one that loads.")
        changes = identity_changes(_read_json(Path(resume) / RUN_FILE), identity) if identity is not None else []
        if changes:
            notice(f"--resume_from_checkpoint {resume} was written by another configuration ({'; '.join(changes)}); "
                   "resuming from it as asked.")
        return str(resume)
    for checkpoint in complete_checkpoints(training_args.output_dir):
        problem = verify_checkpoint(checkpoint)
        changes = identity_changes(_read_json(checkpoint / RUN_FILE), identity) if identity is not None else []
        if problem is None and changes:
            where = _move_aside(checkpoint, SUPERSEDED_PREFIX, training_args)
            notice(f"checkpoint {checkpoint} is of another configuration, not resumed ({'; '.join(changes)}); "
                   f"{where}; this run starts from the beginning.")
            continue
        if problem is None:
            return str(checkpoint)
        where = _move_aside(checkpoint, DAMAGED_PREFIX, training_args)
        following = next((c for c in complete_checkpoints(training_args.output_dir) if _step(c) < _step(checkpoint)),
                         None)
        instead = (f"falling back to the previous complete checkpoint, {following.name}" if following else
                   "no earlier complete checkpoint: training starts from the beginning")
        notice(f"checkpoint {checkpoint} is damaged: {problem}; {where}; {instead}.")
    return None


def _logged_loss(log_history: list[dict[str, Any]], up_to_step: int) -> tuple[float, int]:
    """(sum of the per-step training losses, steps covered) of the logged windows up to `up_to_step`."""
    total, covered, previous = 0.0, 0, 0
    for entry in log_history:
        step = entry.get("step")
        if "loss" not in entry or step is None or step > up_to_step:
            continue
        if step > previous:
            total += float(entry["loss"]) * (step - previous)
            covered += step - previous
            previous = step
    return total, covered


def progress_callback(earlier_time: float | None, start: float, identity: Mapping[str, Any] | None = None) -> Any:
    """A `TrainerCallback` that makes checkpoints carry what a resumed run needs: a log entry at every save (the
    logged losses cover every step up to it), in `TRAIN_TIME_FILE` the training time up to it (`earlier_time`,
    before this attempt or None when unknown, plus the time since `start`, a `time.perf_counter()` value) and,
    given one, the run's `identity` in `RUN_FILE` (only the same run resumes the checkpoint)."""
    from transformers import TrainerCallback

    class TextmixProgressCallback(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if control.should_save:
                control.should_log = True
            return control

        on_epoch_end = on_step_end

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if state.is_world_process_zero and folder.is_dir():
                spent = None if earlier_time is None else earlier_time + time.perf_counter() - start
                write_json_atomic(folder / TRAIN_TIME_FILE, {"step": state.global_step, "train_time_s": spent})
                if identity is not None:
                    write_json_atomic(folder / RUN_FILE, identity)

    return TextmixProgressCallback()


def resume_point(training_args: Any, identity: Mapping[str, Any]) -> tuple[str | None, int, float | None]:
    """(the checkpoint to resume from or None, its step, the training time before it or None when it does not
    record it), saying what it found."""
    resume = resume_checkpoint(training_args, identity)
    from_step, earlier_time = 0, 0.0
    if resume:
        state = _read_json(Path(resume) / "trainer_state.json")
        from_step = int(state.get("global_step", 0))
        spent = _read_json(Path(resume) / TRAIN_TIME_FILE).get("train_time_s")
        earlier_time = None if spent is None else float(spent)
        if from_step >= int(state.get("max_steps") or 0) > 0:
            notice(f"{resume} holds the run's last step ({from_step}): writing its results without training")
        else:
            notice(f"resuming from {resume} (step {from_step} of {state.get('max_steps', '?')})")
        if earlier_time is None:
            notice(f"{resume} does not record the training time before it (written by an older version): "
                   "train_time_s will be null; this_attempt.train_time_s has this attempt's.")
    return resume, from_step, earlier_time
