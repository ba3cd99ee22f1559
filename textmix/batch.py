"""Batches in and out of a `Mixer`: splitting labels off, targets, and the `MixedBatch` it returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from .targets import base_targets, mix_targets, mix_token_targets, soft_loss, valid_items

LABEL_KEYS = ("labels", "label", "label_ids")
NOT_MODEL_INPUTS = ("special_tokens_mask",)
PROBLEM_TYPES = {
    "single_label_classification": "single_label",
    "multi_label_classification": "multi_label",
    "regression": "regression",
    "token_classification": "token",
}


@dataclass
class MixedBatch:
    """One batch after mixing.

    `inputs` are plain model inputs (never labels); `perm[i]` is row i's partner; `lam[i]` the
    weight of row i's own label (1.0 = unmixed); `targets` the mixed targets `loss` trains on;
    `valid` marks rows that count in the loss (not labelled -100; for token classification, the
    labelled tokens (B, L), and `targets` is (B, L, C)). Image methods also give `boxes`
    (B, 4) long, ``[y0, y1, x0, x1)`` of the region row i took from its partner, in pixels (cutmix)
    or patches (patch_cutmix); empty for rows that were blended (Mixup) or not mixed. `method` is
    the method drawn for the batch, or e.g. ``"mixup+cutmix"`` when rows drew theirs one by one.

    With `label_weights="attention"` (`textmix.attention`), `lam` and `targets` are the area ones
    until the model has run on `inputs`; `loss()` (or `read_attention()`) then sets both from the
    attention that forward captured.
    """

    inputs: dict[str, Any]
    perm: torch.Tensor
    lam: torch.Tensor
    targets: torch.Tensor
    valid: torch.Tensor
    task_kind: str
    method: str | None = None
    layer: int | None = None
    boxes: torch.Tensor | None = None
    step: Any = None
    """The hooks' `Step` of a batch mixed inside the model (activation and patch methods), else None."""
    attention: Any = None
    """`textmix.attention.AttentionLabels` while the label weights still wait for the mixed forward."""
    base_targets: torch.Tensor | None = None
    """The targets before mixing (with `attention`): what `read_attention` mixes with the new lambdas."""

    def read_attention(self) -> None:
        """With label weights from attention: set `lam` and `targets` from the attention the mixed forward
        captured (a `RuntimeError` before that forward); nothing otherwise."""
        if self.attention is None:
            return
        self.lam = self.attention.lam()
        self.targets = mix_targets(self.base_targets, self.perm, self.lam)
        self.attention = None

    @property
    def mixed(self) -> bool:
        """Whether this batch was mixed at all."""
        return self.method is not None

    def loss(self, logits: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """Soft-target loss of `logits` against `targets` over the valid rows (`"mean"` or `"sum"`).

        Raises for a batch mixed inside the model when no training forward met its hooks (the model was
        put in eval mode after `mix()`): the logits would be unmixed while the targets are mixed."""
        step = self.step
        if step is not None and step.perm is not None and not step.reached:
            raise RuntimeError(
                f"this batch is mixed inside the model ({self.method}), but no training-mode forward of the model "
                "ran on it: run the model on mb.inputs in train mode before mb.loss() (was the model put in eval mode "
                "after mix()?), else its logits are unmixed while the targets are mixed. Call model.train() before "
                "mix() and the forward; in eval mode, mix() returns the batch unmixed. With torch.compile, attach the "
                "mixer (`with mixer:`) before the compiled model's first forward: Dynamo does not see hooks added "
                "later (or set torch._dynamo.config.skip_nnmodule_hook_guards = False)."
            )
        self.read_attention()
        return soft_loss(logits, self.targets, self.valid, self.task_kind, reduction)


def split_batch(batch: Mapping[str, Any], label_key: str | None = None
                ) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor | None]:
    """Model inputs, labels and the `special_tokens_mask` (if any) of a batch dict.

    The labels are `batch[label_key]`, or the first of "labels", "label", "label_ids" present.
    """
    if not isinstance(batch, Mapping):
        raise TypeError(f"mix() takes a dict of tensors, got {type(batch).__name__}.")
    keys = (label_key,) if label_key else LABEL_KEYS
    label_key = next((k for k in keys if k in batch), None)
    if label_key is None:
        raise ValueError(
            f"the batch has no labels (looked for {list(keys)}; it has {sorted(batch)}); mixing needs labels to "
            "mix targets. Keep the label column in the batch (with the Trainer: remove_unused_columns keeps "
            "'labels'/'label'; for another name pass TrainingArguments(label_names=[name]) to MixTrainer or "
            "Mixer(..., label_key=name))."
        )
    inputs = {k: v for k, v in batch.items() if k not in keys and k not in NOT_MODEL_INPUTS}
    labels = batch[label_key]
    if not isinstance(labels, torch.Tensor):
        if isinstance(labels, (list, tuple)) and labels and isinstance(labels[0], str):
            raise ValueError(
                f"the labels are strings ({labels[:3]}...): encode them as class ids first, e.g. "
                "datasets' `class_encode_column` or a label-to-id mapping in the collator."
            )
        labels = torch.as_tensor(labels)
    return inputs, labels, batch.get("special_tokens_mask")


PACKED_KEYS = ("cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k", "seq_idx")
"""Batch keys that mark several sequences packed into one row (e.g. `transformers.DataCollatorWithFlattening`)."""


def check_unpacked(inputs: Mapping[str, Any]) -> None:
    """Raise a `ValueError` for a packed batch: several sequences in one row, told by `PACKED_KEYS` or by
    `position_ids` that restart inside a row (among its attended tokens). Mixing pairs whole rows."""
    found = [k for k in PACKED_KEYS if k in inputs]
    why = f"it has {found}" if found else ""
    position_ids = inputs.get("position_ids")
    if not found and isinstance(position_ids, torch.Tensor) and position_ids.dim() == 2 and position_ids.shape[1] > 1:
        mask = inputs.get("attention_mask")
        attended = torch.ones_like(position_ids, dtype=torch.bool) if mask is None else mask.bool()
        pos = position_ids.long()
        seen = torch.where(attended, pos, torch.iinfo(torch.long).min).cummax(dim=1).values
        if bool((attended[:, 1:] & (pos[:, 1:] <= seen[:, :-1])).any()):
            why = "its position_ids restart inside a row"
    if why:
        raise ValueError(
            f"this batch packs several sequences into a row ({why}): mixing pairs whole rows, so packed sequences "
            "would be blended across their boundaries, and a padding-free batch of one row would never be mixed. "
            "Train with a padded collator such as transformers.DataCollatorWithPadding (one sequence per row)."
        )


def batch_device(inputs: Mapping[str, Any], labels: torch.Tensor) -> torch.device:
    """The device the batch lives on (that of its first input tensor)."""
    for key in ("input_ids", "inputs_embeds", "pixel_values", "attention_mask"):
        value = inputs.get(key)
        if isinstance(value, torch.Tensor):
            return value.device
    return labels.device


def targets_of(labels: torch.Tensor, task_kind: str, num_labels: int, label_smoothing: float) -> torch.Tensor:
    """Float targets before mixing; one-hot float labels (B, C) also give the number of classes."""
    if task_kind == "token":
        return base_targets(labels, task_kind, num_labels, label_smoothing)
    if task_kind == "single_label" and labels.dim() == 2 and labels.shape[1] == 1 and num_labels != 1:
        raise ValueError(
            f"class labels have shape {tuple(labels.shape)}: give them as (batch,) class ids, e.g. "
            "labels.squeeze(1); (batch, num_labels) float rows are read as soft labels."
        )
    if task_kind == "single_label" and labels.dim() == 2:
        labels = labels if labels.is_floating_point() else labels.float()  # one-hot integers
        num_labels = num_labels or labels.shape[1]
    elif task_kind == "single_label" and num_labels <= 0:
        raise ValueError(
            "the mixer does not know the number of classes: pass Mixer(None, cfg, num_labels=N), or give "
            "one-hot labels of shape (batch, N)."
        )
    return base_targets(labels, task_kind, num_labels, label_smoothing)


def unmixed_batch(inputs: dict, labels: torch.Tensor, task_kind: str, num_labels: int,
                  label_smoothing: float) -> MixedBatch:
    """The batch as it came: every row its own partner, lam = 1, targets (smoothed) one-hot."""
    b, device = labels.shape[0], labels.device
    return MixedBatch(
        inputs=inputs,
        perm=torch.arange(b, device=device),
        lam=torch.ones(b, device=device),
        targets=targets_of(labels, task_kind, num_labels, label_smoothing),
        valid=valid_items(labels, task_kind),
        task_kind=task_kind,
    )


def check_token_labels(inputs: Mapping[str, Any], labels: torch.Tensor, task_kind: str) -> None:
    """Token classification: one label per token, or a `ValueError` naming the shapes."""
    ids = inputs.get("input_ids")
    if task_kind == "token" and isinstance(ids, torch.Tensor) and labels.shape != ids.shape:
        raise ValueError(f"token labels have shape {tuple(labels.shape)} but input_ids {tuple(ids.shape)}: "
                         "give one label per token (-100 where none).")


def mixed_targets(targets: torch.Tensor, labels: torch.Tensor, perm: torch.Tensor, lam: torch.Tensor,
                  moved_labels: torch.Tensor | None, task_kind: str, num_labels: int, label_smoothing: float
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """The targets of a mixed batch and what counts in its loss.

    Rows: lam * own + (1 - lam) * partner's targets, over the valid rows. Token classification: the
    labels after mixing when tokens moved with their labels (span on whole words), else per-token
    blends over each row's own labelled tokens (see `textmix.targets`).
    """
    if task_kind != "token":
        return mix_targets(targets, perm, lam), valid_items(labels, task_kind)
    if moved_labels is not None:
        return (targets_of(moved_labels, task_kind, num_labels, label_smoothing),
                valid_items(moved_labels, task_kind))
    labelled = valid_items(labels, task_kind)
    return mix_token_targets(targets, labelled, perm, lam), labelled
