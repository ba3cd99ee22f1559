"""`MixTrainer`: a `transformers.Trainer` that mixes training batches, configured by `MixTrainingArguments`
(or by a `MixConfig` passed as `mix_config=`)."""

from __future__ import annotations

import dataclasses
import os
import typing
import warnings
from dataclasses import field
from typing import Any

import torch
from torch import nn
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint

from .checkpoints import (
    MIXER_STATE_FILE,
    last_complete_checkpoint,
    reload_legacy_named_weights,
    write_complete_marker,
)
from .config import MixConfig
from .mixer import Mixer
from .targets import task_kind_of, valid_items

__all__ = ["MIXER_STATE_FILE", "MixTrainer", "MixTrainingArguments", "last_complete_checkpoint"]

NO_MIXING = ("none", "", None)

UNMIXED_LOGS = 3
"""`MixTrainer` warns when this many logging steps in a row mixed no row while mixing is on (and `prob` makes
that a chance under one in a million)."""

MIXING_ONLY = {f.name: f.default for f in dataclasses.fields(MixConfig) if f.name in ("clean_weight", "label_weights")}
"""`MixConfig` fields (with their defaults) that only a mixer uses: another value without mixing is an error."""

_FROM_TRAINING_ARGUMENTS = {"seed": "seed", "label_smoothing": "label_smoothing_factor"}
"""`MixConfig` fields whose `--mix_` argument defaults to a `TrainingArguments` field."""


def _mix_fields() -> list[tuple[str, Any, Any]]:
    """One `mix_<name>` field per `MixConfig` field, with its type, default and help; plus the schedule."""
    hints = typing.get_type_hints(MixConfig)
    out = []
    for f in dataclasses.fields(MixConfig):
        meta = dict(f.metadata)
        kind, default = hints[f.name], f.default
        if f.name == "method":
            default = "none"
            meta["help"] += " Here the default is 'none': no mixer at all, a plain Trainer step."
        elif f.name in _FROM_TRAINING_ARGUMENTS:
            kind, default = kind | None, None
            meta["help"] += f" Default here: --{_FROM_TRAINING_ARGUMENTS[f.name]}."
        if default is dataclasses.MISSING:
            out.append((f"mix_{f.name}", kind, field(default_factory=f.default_factory, metadata=meta)))
        else:
            out.append((f"mix_{f.name}", kind, field(default=default, metadata=meta)))
    out.append(("mix_off_epoch", float | None, field(
        default=None, metadata={"help": "No mixing from this epoch on (e.g. 3 = the last epochs train clean)."})))
    return out


class _MixArguments:
    """Methods of `MixTrainingArguments` (its fields are generated from `MixConfig`)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mix_off_epoch is not None and self.mix_off_epoch < 0:
            raise ValueError(f"mix_off_epoch must be >= 0 (got {self.mix_off_epoch}); leave it unset to mix throughout.")
        if self.mixing:
            self.mix_config()  # validate early, with the message naming the fix
        elif self.mix_label_smoothing:
            raise ValueError("mix_label_smoothing smooths the mixer's targets, but no mixing is configured: "
                             "use --label_smoothing_factor for a plain run.")
        else:
            ignored = {f"mix_{name}": getattr(self, f"mix_{name}") for name, default in MIXING_ONLY.items()
                       if getattr(self, f"mix_{name}") != default}
            if ignored:
                raise ValueError(f"{', '.join(f'{k}={v!r}' for k, v in ignored.items())} with mix_method "
                                 f"{self.mix_method!r}: no mixing is configured, so nothing would use it; set "
                                 "--mix_method (e.g. mixup, or cutmix for label weights), or leave it out.")

    @property
    def mixing(self) -> bool:
        """Whether any mixing is configured."""
        return self.mix_method not in NO_MIXING

    def mix_config(self) -> MixConfig:
        """The `MixConfig` these arguments describe (`ValueError` when `mix_method` is 'none')."""
        if not self.mixing:
            raise ValueError("mix_method is 'none': there is no MixConfig (no mixer).")
        values = {f.name: getattr(self, f"mix_{f.name}") for f in dataclasses.fields(MixConfig)}
        for name, arg in _FROM_TRAINING_ARGUMENTS.items():
            if values[name] is None:
                values[name] = getattr(self, arg)
        if self.mix_label_smoothing is not None and self.label_smoothing_factor not in (0, 0.0, values["label_smoothing"]):
            raise ValueError(
                f"mix_label_smoothing={self.mix_label_smoothing} and label_smoothing_factor="
                f"{self.label_smoothing_factor} disagree; set one of them."
            )
        return MixConfig(**values)


MixTrainingArguments = dataclasses.make_dataclass(
    "MixTrainingArguments", _mix_fields(), bases=(_MixArguments, TrainingArguments),
)
MixTrainingArguments.__module__ = __name__
MixTrainingArguments.__doc__ = """`TrainingArguments` plus one `--mix_<field>` per `MixConfig` field (same help) and a schedule.

Generated from `MixConfig`, so a new `MixConfig` field is a new `--mix_` argument. `mix_method="none"`
(the default) means no mixer at all: a plain Trainer step (MixTrainer still makes gradient
accumulation exact). `mix_seed` defaults to `seed` and `mix_label_smoothing` to
`label_smoothing_factor`, which is applied once, inside the soft targets.
"""


class _MixScheduleCallback(TrainerCallback):
    """Switches mixing off from `mix_off_epoch` on, and marks checkpoints complete."""

    def __init__(self, trainer: MixTrainer) -> None:
        self.trainer = trainer

    def on_epoch_begin(self, args, state, control, **kwargs):
        off = self.trainer.mix_off_epoch
        self.trainer.mixing_enabled = self.trainer.mixer is not None and (
            off is None or (state.epoch or 0.0) < off - 1e-9
        )

    def on_save(self, args, state, control, **kwargs):
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if not os.path.isdir(folder):
            return
        if self.trainer.mixer is not None:
            path = os.path.join(folder, MIXER_STATE_FILE.format(rank=args.process_index))
            torch.save(self.trainer.mixer.state_dict(), path)
        self.trainer.accelerator.wait_for_everyone()  # every process's files are on disk
        if args.process_index == 0:
            write_complete_marker(folder)


class MixTrainer(Trainer):
    """A `Trainer` that mixes training batches.

    The mixing comes from `MixTrainingArguments` (`--mix_method` and friends) or from
    `mix_config=MixConfig(...)` with any `TrainingArguments`; with neither there is no mixer and
    each step is the plain Trainer's. Evaluation and prediction are the plain Trainer's. The
    training loss is normalised by the labelled rows of the whole accumulated (and, across
    processes, global) batch, so gradient accumulation is exact, with and without mixing. With
    `clean_weight` > 0 (RegMixup) every step runs a clean forward and a mixed one and trains on
    CE(clean) + clean_weight * mixed loss. The mixer's generator state is saved in every checkpoint
    and restored on resume. It warns when `UNMIXED_LOGS` (3) logging steps in a row mixed no row while
    mixing is on (e.g. batches of one row), unless `prob` makes that a plausible run of chance.
    """

    loss_is_scaled_for_ga = True

    def __init__(self, *args: Any, mix_config: MixConfig | None = None,
                 mixer_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        targs = self.args
        from_args = isinstance(targs, MixTrainingArguments) and targs.mixing
        if mix_config is not None and from_args:
            raise ValueError("mixing is configured twice: pass mix_config=... or --mix_method, not both.")
        if mix_config is not None and targs.label_smoothing_factor and (
                mix_config.label_smoothing != targs.label_smoothing_factor):
            raise ValueError(
                f"label_smoothing_factor={targs.label_smoothing_factor} but mix_config.label_smoothing="
                f"{mix_config.label_smoothing}: set MixConfig(label_smoothing=...) and leave label_smoothing_factor 0."
            )
        config = mix_config if mix_config is not None else (targs.mix_config() if from_args else None)
        self.mix_off_epoch = getattr(targs, "mix_off_epoch", None)
        self.mixer_kwargs = dict(mixer_kwargs or {})
        names = targs.label_names or []
        if len(names) > 1 and config is not None:
            raise ValueError(f"mixing needs one label entry per batch; label_names={names} names several.")
        self._label_key = names[0] if names else None
        if self._label_key and "label_key" not in self.mixer_kwargs:
            self.mixer_kwargs["label_key"] = self._label_key
        if "tokenizer" not in self.mixer_kwargs and getattr(self.processing_class, "all_special_ids", None):
            self.mixer_kwargs["tokenizer"] = self.processing_class
        self.mixer = (None if config is None else
                      Mixer(self.model, config, seed_offset=targs.process_index, **self.mixer_kwargs))
        self.mixing_enabled = self.mixer is not None
        self._task_kind = self.mixer.task_kind if self.mixer is not None else task_kind_of(
            getattr(self.model, "config", None), self.model)
        self._mixed_weight = 1.0
        self._mix_stats = self._empty_stats()
        self._unmixed_streak = (0, 0)  # logging steps and batches in a row that mixed no row
        self._schedule = _MixScheduleCallback(self)
        self.add_callback(self._schedule)
        if self.mixer is not None:
            from .methods import get_method

            spans = [m for m in self.mixer.methods if get_method(m).needs_special_tokens]
            if spans and not self.mixer.knows_special_tokens:
                raise ValueError(
                    f"method(s) {spans} must know the special tokens: pass processing_class=tokenizer to "
                    "MixTrainer, or mixer_kwargs={'special_token_ids': [...]}."
                )

    def add_checkpoint_callback(self, callback: TrainerCallback) -> None:
        """Add `callback` so that what its `on_save` writes into a checkpoint is there before MixTrainer marks
        the checkpoint complete (the callbacks run in order)."""
        callbacks = self.callback_handler.callbacks
        callbacks.insert(callbacks.index(self._schedule), callback)

    # ------------------------------------------------------------------ train / resume
    def train(self, resume_from_checkpoint: str | bool | None = None, *args: Any, **kwargs: Any):
        if self.mixer is None:
            return super().train(resume_from_checkpoint, *args, **kwargs)
        if resume_from_checkpoint is True:
            resume_from_checkpoint = get_last_checkpoint(self.args.output_dir)
        if isinstance(resume_from_checkpoint, str):
            path = os.path.join(resume_from_checkpoint, MIXER_STATE_FILE.format(rank=self.args.process_index))
            if os.path.exists(path):
                try:
                    state = torch.load(path, weights_only=True)
                except Exception as err:
                    raise RuntimeError(f"{path} does not load ({err}); resume from an earlier checkpoint or delete "
                                       "this one.") from err
                self.mixer.load_state_dict(state)
        with self.mixer:
            return super().train(resume_from_checkpoint, *args, **kwargs)

    def _run_epoch(self, *args: Any, **kwargs: Any) -> None:
        # transformers enters the epoch of a resumed checkpoint before it checks `max_steps`: a checkpoint at
        # the last step, mid-epoch, would train one step more. A run that has all its steps trains none.
        if self.state.max_steps > 0 and self.state.global_step >= self.state.max_steps:
            self.control.should_training_stop = True
            return None
        return super()._run_epoch(*args, **kwargs)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: nn.Module | None = None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        reload_legacy_named_weights(resume_from_checkpoint, model if model is not None else self.model)

    # ------------------------------------------------------------------ loss
    def _get_num_items_in_batch(self, batch_samples: list, device: torch.device) -> torch.Tensor | None:
        """Labelled rows in the accumulated batch (over all processes when tokens are averaged)."""
        keys = (self._label_key,) if self._label_key else ("labels", "label")
        key = next((k for k in keys if batch_samples and k in batch_samples[0]), None)
        if key is None:
            return None
        count = sum(valid_items(torch.as_tensor(b[key]), self._task_kind).sum() for b in batch_samples)
        count = torch.as_tensor(count, device=device)
        if self.args.average_tokens_across_devices and self.args.world_size > 1:
            count = self.accelerator.gather(count.reshape(1)).sum()
        return count

    def _pass_weights(self) -> tuple[float, float] | None:
        """(clean, mixed) loss weights when the next step runs a clean pass before the mixed one, else None:
        (1, clean_weight) with `clean_weight` > 0 (RegMixup), (0.5, 0.5) for saliency_span alone."""
        if not self.mixing_enabled:
            return None
        eta = self.mixer.config.clean_weight
        if eta > 0:
            return 1.0, float(eta)
        return (0.5, 0.5) if self.mixer.next_needs_saliency else None

    def training_step(self, model: nn.Module, inputs: dict[str, Any], num_items_in_batch=None) -> torch.Tensor:
        weights = self._pass_weights()
        if weights is None:
            return super().training_step(model, inputs, num_items_in_batch)
        # Clean pass, then the mixed one (`clean()` then `mix()`): RegMixup's CE(clean) + eta * mixed loss, or
        # saliency span's (clean + mixed) / 2, whose clean backward gives the saliency. Both passes are scaled
        # to the accumulated batch, so gradient accumulation stays exact.
        clean_weight, self._mixed_weight = weights
        model.train()
        prepared = self._prepare_inputs(inputs)
        with self.compute_loss_context_manager():
            clean = self.mixer.clean(prepared)
            outputs = model(**clean.inputs)
            clean_loss = clean_weight * self._scaled_loss(clean.loss(outputs.logits, reduction="sum"),
                                                          num_items_in_batch, clean.valid.sum())
        self.accelerator.backward(clean_loss)
        try:
            mixed_loss = super().training_step(model, inputs, num_items_in_batch)
        finally:
            self._mixed_weight = 1.0
        return clean_loss.detach() + mixed_loss

    def _scaled_loss(self, total: torch.Tensor, num_items_in_batch, rows: torch.Tensor) -> torch.Tensor:
        """A micro-batch's loss summed over its `rows` labelled rows, as its share of the accumulated batch's mean."""
        if num_items_in_batch is None:
            return total / rows.clamp_min(1) / self.current_gradient_accumulation_steps
        loss = total / torch.as_tensor(num_items_in_batch).clamp_min(1)
        if self.args.average_tokens_across_devices and self.args.world_size > 1:
            loss = loss * self.args.world_size  # DDP averages gradients over processes
        return loss

    def compute_loss(self, model: nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch=None):
        if not model.training:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if self.mixer is None:
            return self._plain_loss(model, inputs, return_outputs, num_items_in_batch)
        batch = self.mixer.mix(inputs) if self.mixing_enabled else self.mixer.clean(inputs)
        outputs = model(**batch.inputs)
        loss = self._scaled_loss(batch.loss(outputs.logits, reduction="sum"), num_items_in_batch, batch.valid.sum())
        if self._mixed_weight != 1.0:
            loss = self._mixed_weight * loss
        self._record(batch)
        return (loss, outputs) if return_outputs else loss

    def _plain_loss(self, model: nn.Module, inputs: dict[str, Any], return_outputs: bool, num_items_in_batch):
        """No mixer: the plain Trainer's loss (the model's own, or its label smoother's), which is a mean
        over the micro-batch, rescaled to its share of the accumulated batch (a factor of exactly 1
        without accumulation on one process, so the step is bit-identical to `Trainer`'s)."""
        keys = (self._label_key,) if self._label_key else ("labels", "label")
        labels = next((inputs[k] for k in keys if k in inputs), None)
        self._mix_stats["batches"] += 1  # logged as mix_share 0.0
        loss, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=None)
        if labels is None or num_items_in_batch is None:
            loss = loss / self.current_gradient_accumulation_steps
        else:
            rows = valid_items(torch.as_tensor(labels), self._task_kind).sum()
            loss = loss * (rows.to(loss.device) / torch.as_tensor(num_items_in_batch, device=loss.device).clamp_min(1))
            if self.args.average_tokens_across_devices and self.args.world_size > 1:
                loss = loss * self.args.world_size  # DDP averages gradients over processes
        return (loss, outputs) if return_outputs else loss

    # ------------------------------------------------------------------ logging
    @staticmethod
    def _empty_stats() -> dict[str, Any]:
        return {"batches": 0, "mixed": 0, "lam_sum": 0.0, "rows": 0, "mixed_rows": 0, "methods": {}}

    def _record(self, batch) -> None:
        s = self._mix_stats
        s["batches"] += 1
        if batch.mixed:
            s["mixed"] += 1
            s["methods"][batch.method] = s["methods"].get(batch.method, 0) + 1
            s["lam_sum"] = s["lam_sum"] + batch.lam.detach().sum()
            s["rows"] += batch.lam.numel()
            s["mixed_rows"] = s["mixed_rows"] + (batch.lam.detach() < 1).sum()

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        s = self._mix_stats
        if "loss" in logs and s["batches"]:
            logs["mix_share"] = s["mixed"] / s["batches"]
            if s["rows"]:
                logs["mix_lam_mean"] = float(s["lam_sum"]) / s["rows"]
            for method, count in sorted(s["methods"].items()):
                logs[f"mix_count_{method}"] = count
            self._warn_if_unmixed(s)
            self._mix_stats = self._empty_stats()
        super().log(logs, start_time)

    def _warn_if_unmixed(self, s: dict[str, Any]) -> None:
        """Warn (once per streak) when `UNMIXED_LOGS` logging steps in a row mixed no row while mixing is on,
        unless `prob` makes that plausible (a chance of one in a million or more)."""
        if self.mixer is None or not self.mixing_enabled or int(s["mixed_rows"]) > 0:
            self._unmixed_streak = (0, 0)
            return
        logs, batches = self._unmixed_streak
        self._unmixed_streak = (logs + 1, batches + s["batches"])
        chance = (1.0 - self.mixer.config.prob) ** (batches + s["batches"])
        if logs + 1 == UNMIXED_LOGS and chance < 1e-6:
            warnings.warn(
                f"no row was mixed in the last {UNMIXED_LOGS} logging steps ({batches + s['batches']} batches, "
                "mix_share 0.0) although mixing is on. Rows are mixed with a partner in the same batch: batches of "
                "one row are never mixed (per_device_train_batch_size=1, or a padding-free collator such as "
                "DataCollatorWithFlattening: use a padded collator such as DataCollatorWithPadding), and a model "
                "in eval mode is not mixed.", UserWarning, stacklevel=2,
            )
