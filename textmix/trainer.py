"""`MixTrainer`: a `transformers.Trainer` that mixes training batches, configured by `MixTrainingArguments`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint

from .config import MixConfig, parse_methods
from .mixer import Mixer
from .targets import valid_rows

MIXER_STATE_FILE = "textmix_mixer_rank{rank}.pt"


@dataclass
class MixTrainingArguments(TrainingArguments):
    """`TrainingArguments` plus the `mix_*` fields of a `MixConfig` and a schedule.

    `mix_method="none"` trains without mixing (still with MixTrainer's exact loss scaling under
    gradient accumulation). `label_smoothing_factor` is applied once, inside the soft targets.
    """

    mix_method: str = field(
        default="none",
        metadata={
            "help": "Mixing method: none; text: embedding, hidden, pooled, span, saliency_span; images: mixup, "
            "cutmix, patch_mixup, patch_cutmix; or several with weights, e.g. 'span:2,hidden:1' (one drawn "
            "per batch)."
        },
    )
    mix_alpha: float = field(default=0.4, metadata={"help": "Lambda ~ Beta(alpha, alpha); must be > 0."})
    mix_prob: float = field(default=1.0, metadata={"help": "Probability that a training batch is mixed."})
    mix_lam_mode: str = field(
        default="batch", metadata={"help": "'batch': one lambda per batch; 'row': per row; 'pair': per pair of rows."}
    )
    mix_prob_per_row: bool = field(
        default=False, metadata={"help": "Apply mix_prob to each row (pair) instead of each batch (timm's elem mode)."}
    )
    mix_cutmix_alpha: float | None = field(
        default=None, metadata={"help": "cutmix / patch_cutmix: Beta parameter (default: mix_alpha)."}
    )
    mix_cutmix_minmax: list[float] | None = field(
        default=None, metadata={"help": "cutmix / patch_cutmix: box side fractions drawn from [min, max] (timm)."}
    )
    mix_correct_lam: bool = field(
        default=True, metadata={"help": "cutmix: label weight = kept pixel share after clipping (else drawn lambda)."}
    )
    mix_lam_at_least_half: bool = field(
        default=False, metadata={"help": "Use lam = max(lam, 1 - lam) (TMix's convention)."}
    )
    mix_partner: str = field(default="permute", metadata={"help": "Partners: 'permute' (random) or 'flip'."})
    mix_layers: list[int] | None = field(
        default=None,
        metadata={"help": "Hidden Mixup layers (0 = embeddings, N = last); default the upper half of the model."},
    )
    mix_embedding_target: str = field(
        default="word", metadata={"help": "Embedding Mixup on the word embeddings ('word') or the whole module."}
    )
    mix_off_epoch: float | None = field(
        default=None, metadata={"help": "No mixing from this epoch on (e.g. 3 = the last epochs train clean)."}
    )
    mix_seed: int | None = field(
        default=None, metadata={"help": "Seed of the mixer (default: --seed); each process adds its rank."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mix_method != "none":
            self.mix_config()  # validate early, with the message naming the fix

    @property
    def mixing(self) -> bool:
        """Whether any mixing is configured."""
        return self.mix_method not in ("none", "", None)

    def mix_config(self) -> MixConfig:
        """The `MixConfig` these arguments describe."""
        method = self.mix_method if self.mixing else "span"  # a placeholder that attaches no hook
        parse_methods(method)
        return MixConfig(
            method=method,
            alpha=self.mix_alpha,
            prob=self.mix_prob,
            lam_mode=self.mix_lam_mode,
            prob_per_row=self.mix_prob_per_row,
            cutmix_alpha=self.mix_cutmix_alpha,
            cutmix_minmax=self.mix_cutmix_minmax,
            correct_lam=self.mix_correct_lam,
            lam_at_least_half=self.mix_lam_at_least_half,
            partner=self.mix_partner,
            layers=self.mix_layers,
            embedding_target=self.mix_embedding_target,
            label_smoothing=self.label_smoothing_factor,
            seed=self.seed if self.mix_seed is None else self.mix_seed,
        )


class _MixScheduleCallback(TrainerCallback):
    """Switches mixing off from `mix_off_epoch` on, at the start of every epoch."""

    def __init__(self, trainer: MixTrainer) -> None:
        self.trainer = trainer

    def on_epoch_begin(self, args, state, control, **kwargs):
        off = args.mix_off_epoch
        self.trainer.mixing_enabled = args.mixing and (off is None or (state.epoch or 0.0) < off - 1e-9)

    def on_save(self, args, state, control, **kwargs):
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if self.trainer.mixer is not None and os.path.isdir(folder):
            path = os.path.join(folder, MIXER_STATE_FILE.format(rank=args.process_index))
            torch.save(self.trainer.mixer.state_dict(), path)


class MixTrainer(Trainer):
    """A `Trainer` that mixes training batches as its `MixTrainingArguments` say.

    Evaluation and prediction are the plain Trainer's. The training loss is the soft-target loss
    of `textmix`, summed over the rows and divided by the number of labelled rows of the whole
    accumulated (and, across processes, global) batch, so gradient accumulation is exact.
    The mixer's generator state is saved in every checkpoint and restored on resume.
    """

    loss_is_scaled_for_ga = True

    def __init__(self, *args: Any, mixer_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.args, MixTrainingArguments):
            raise TypeError("MixTrainer needs MixTrainingArguments (TrainingArguments plus the mix_* fields).")
        self.mixer_kwargs = dict(mixer_kwargs or {})
        if "tokenizer" not in self.mixer_kwargs and getattr(self.processing_class, "all_special_ids", None):
            self.mixer_kwargs["tokenizer"] = self.processing_class
        self.mixer: Mixer | None = None
        self.mixing_enabled = self.args.mixing
        self._half_loss = False
        self._mix_stats = self._empty_stats()
        self.add_callback(_MixScheduleCallback(self))
        self.mixer = Mixer(
            self.model, self.args.mix_config(), seed_offset=self.args.process_index, **self.mixer_kwargs
        )
        spans = [m for m in self.mixer.methods if m in ("span", "saliency_span")]
        if self.args.mixing and spans and not self.mixer.knows_special_tokens:
            raise ValueError(
                f"method(s) {spans} must know the special tokens: pass processing_class=tokenizer to MixTrainer, "
                "or mixer_kwargs={'special_token_ids': [...]}."
            )

    # ------------------------------------------------------------------ train / resume
    def train(self, resume_from_checkpoint: str | bool | None = None, *args: Any, **kwargs: Any):
        if resume_from_checkpoint is True:
            resume_from_checkpoint = get_last_checkpoint(self.args.output_dir)
        if isinstance(resume_from_checkpoint, str):
            path = os.path.join(resume_from_checkpoint, MIXER_STATE_FILE.format(rank=self.args.process_index))
            if os.path.exists(path):
                self.mixer.load_state_dict(torch.load(path, weights_only=True))
        with self.mixer:
            return super().train(resume_from_checkpoint, *args, **kwargs)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: nn.Module | None = None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        _reload_legacy_named_weights(resume_from_checkpoint, model if model is not None else self.model)

    # ------------------------------------------------------------------ loss
    def _get_num_items_in_batch(self, batch_samples: list, device: torch.device) -> torch.Tensor | None:
        """Labelled rows in the accumulated batch (over all processes when tokens are averaged)."""
        if not batch_samples or not any(k in batch_samples[0] for k in ("labels", "label")):
            return None
        key = "labels" if "labels" in batch_samples[0] else "label"
        count = sum(valid_rows(torch.as_tensor(b[key]), self.mixer.task_kind).sum() for b in batch_samples)
        count = torch.as_tensor(count, device=device)
        if self.args.average_tokens_across_devices and self.args.world_size > 1:
            count = self.accelerator.gather(count.reshape(1)).sum()
        return count

    def training_step(self, model: nn.Module, inputs: dict[str, Any], num_items_in_batch=None) -> torch.Tensor:
        if not (self.mixing_enabled and self.mixer.next_needs_saliency):
            return super().training_step(model, inputs, num_items_in_batch)
        # Saliency span: the clean pass's backward gives the saliency; train on (clean + mixed) / 2.
        model.train()
        prepared = self._prepare_inputs(inputs)
        with self.compute_loss_context_manager():
            clean = self.mixer.clean(prepared)
            outputs = model(**clean.inputs)
            clean_loss = 0.5 * self._scaled_loss(clean, outputs.logits, num_items_in_batch)
        self.accelerator.backward(clean_loss)
        self._half_loss = True
        try:
            mixed_loss = super().training_step(model, inputs, num_items_in_batch)
        finally:
            self._half_loss = False
        return clean_loss.detach() + mixed_loss

    def _scaled_loss(self, batch, logits: torch.Tensor, num_items_in_batch) -> torch.Tensor:
        if num_items_in_batch is None:
            return batch.loss(logits) / self.current_gradient_accumulation_steps
        loss = batch.loss(logits, reduction="sum") / torch.as_tensor(num_items_in_batch).clamp_min(1)
        if self.args.average_tokens_across_devices and self.args.world_size > 1:
            loss = loss * self.args.world_size  # DDP averages gradients over processes
        return loss

    def compute_loss(self, model: nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch=None):
        if not model.training:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if self.mixing_enabled:
            batch = self.mixer.mix(inputs)
        else:
            batch = self.mixer.clean(inputs)
        outputs = model(**batch.inputs)
        loss = self._scaled_loss(batch, outputs.logits, num_items_in_batch)
        if self._half_loss:
            loss = 0.5 * loss
        self._record(batch)
        return (loss, outputs) if return_outputs else loss

    # ------------------------------------------------------------------ logging
    @staticmethod
    def _empty_stats() -> dict[str, Any]:
        return {"batches": 0, "mixed": 0, "lam_sum": 0.0, "rows": 0, "methods": {}}

    def _record(self, batch) -> None:
        s = self._mix_stats
        s["batches"] += 1
        if batch.mixed:
            s["mixed"] += 1
            s["methods"][batch.method] = s["methods"].get(batch.method, 0) + 1
            s["lam_sum"] = s["lam_sum"] + batch.lam.detach().sum()
            s["rows"] += batch.lam.numel()

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        s = self._mix_stats
        if "loss" in logs and s["batches"]:
            logs["mix_share"] = s["mixed"] / s["batches"]
            if s["rows"]:
                logs["mix_lam_mean"] = float(s["lam_sum"]) / s["rows"]
            for method, count in sorted(s["methods"].items()):
                logs[f"mix_count_{method}"] = count
            self._mix_stats = self._empty_stats()
        super().log(logs, start_time)


_LEGACY_SUFFIXES = ((".gamma", ".weight"), (".beta", ".bias"))


def _reload_legacy_named_weights(checkpoint: str, model: nn.Module) -> None:
    """Load checkpoint tensors saved under legacy names (LayerNorm `gamma`/`beta`) into the model.

    transformers 5.x writes the names a model was loaded with (old BERT checkpoints use
    gamma/beta), but the Trainer's resume loads the file with `strict=False` under the current
    names, so those LayerNorms would silently keep their pre-resume values.
    """
    import json

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

    A checkpoint counts as complete once the mixer state is in it: MixTrainer writes that file
    after the Trainer has saved weights, optimizer, scheduler, RNG and trainer state, so a run
    killed while saving falls back to the previous checkpoint.
    """
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    done = [p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()
            and (p / MIXER_STATE_FILE.format(rank=0)).exists() and (p / "trainer_state.json").exists()]
    return str(max(done, key=lambda p: int(p.name.split("-")[-1]))) if done else None
