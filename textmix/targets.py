"""Targets of a mixed batch and the soft losses that train on them.

Three kinds of labels, chosen by `task_kind`:

* ``"single_label"``: integer class ids (B,) -> one-hot (optionally smoothed) -> mixed; soft
  cross-entropy. Float (B, C) rows that are already distributions are accepted as soft labels.
* ``"regression"``: float targets (B,) or (B, 1) -> mixed; mean squared error.
* ``"multi_label"``: float 0/1 targets (B, C) -> mixed; binary cross-entropy with logits.
* ``"token"``: token classification (NER, POS): class ids per token (B, L) -> one-hot per token
  (B, L, C) -> mixed position by position; soft cross-entropy over the labelled tokens.

Rows labelled -100 (every entry -100 for multi-label and token labels) are ignored: never a
partner, not counted in the loss. For token labels, -100 marks single tokens (sub-word
continuations, special tokens, padding): **a position counts in the loss when the row itself
labels it**; its target mixes in the partner's label at that position when the partner labels it
too, and is the row's own label otherwise (the partner's unlabelled token brings no label). So
the loss is always over the row's own labelled tokens, and gradient accumulation stays exact.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import sampling

IGNORE_INDEX = -100
TASK_KINDS = ("single_label", "regression", "multi_label", "token")


def task_kind_of(config, model: object = None) -> str:
    """The kind of labels a Hugging Face model (config) trains on; `*ForTokenClassification` models: "token"."""
    if model is not None and type(model).__name__.endswith("ForTokenClassification"):
        return "token"
    problem = getattr(config, "problem_type", None)
    if problem == "regression" or (problem is None and getattr(config, "num_labels", 2) == 1):
        return "regression"
    if problem == "multi_label_classification":
        return "multi_label"
    return "single_label"


def valid_rows(labels: torch.Tensor, task_kind: str) -> torch.Tensor:
    """Boolean (B,): rows that take part in mixing and in the loss (not labelled -100)."""
    if task_kind == "single_label" and labels.dim() == 1:
        return labels != IGNORE_INDEX
    flat = labels.reshape(labels.shape[0], -1)
    return ~(flat == IGNORE_INDEX).all(dim=1)


def check(bad: torch.Tensor, message: str, values: torch.Tensor) -> None:
    """Raise `ValueError(message)` if any of `bad` (B,) is True, naming the offending rows' values.

    On CPU the check reads the values (free there); on accelerators it is an asynchronous device
    assertion, so a training step never waits for it.
    """
    if sampling.reads_are_free(bad.device):
        if bool(bad.any()):
            rows = bad.nonzero().flatten()[:5].tolist()
            raise ValueError(f"{message} Rows {rows}: {values[rows].tolist()}.")
    else:
        torch._assert_async(~bad.any(), message)


def valid_items(labels: torch.Tensor, task_kind: str) -> torch.Tensor:
    """What counts in the loss: labelled tokens (B, L) for token labels, else valid rows (B,)."""
    if task_kind == "token":
        return labels != IGNORE_INDEX
    return valid_rows(labels, task_kind)


def base_targets(
    labels: torch.Tensor, task_kind: str, num_labels: int, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Float targets before mixing: one-hot (smoothed) for classes, the values for regression.

    Ignored rows get zeros; their values never matter.
    """
    if task_kind == "token":
        return token_targets(labels, num_labels, label_smoothing)
    valid = valid_rows(labels, task_kind)
    if task_kind == "regression":
        t = labels.reshape(labels.shape[0]).float()
        return torch.where(valid, t, torch.zeros_like(t))
    if task_kind == "multi_label":
        t = labels.reshape(labels.shape[0], -1).float()
        if num_labels and t.shape[1] != num_labels:
            raise ValueError(
                f"multi-label targets have {t.shape[1]} columns but the model has {num_labels} labels; "
                "give one 0/1 column per label."
            )
        return torch.where(valid[:, None], t, torch.zeros_like(t))
    if labels.dim() == 2 and labels.is_floating_point():  # soft labels given by the user
        t = labels.float()
        if t.shape[1] != num_labels:
            raise ValueError(f"soft labels have {t.shape[1]} columns but the model has {num_labels} labels.")
        t = torch.where(valid[:, None], t, torch.zeros_like(t))
        not_distribution = valid & (((t < 0).any(dim=1)) | ((t.sum(dim=1) - 1).abs() > 1e-3))
        check(not_distribution, "soft labels must be distributions: every entry >= 0 and each row summing to 1 "
                                "(within 1e-3); normalise them, or use integer class ids.", labels)
    else:
        if labels.dim() != 1:
            raise ValueError(
                f"class labels must have shape (batch,), got {tuple(labels.shape)}; for multi-label "
                "targets set model.config.problem_type='multi_label_classification'."
            )
        if labels.is_floating_point():
            fractional = valid & (labels != torch.round(labels))
            check(fractional, "class labels must be whole numbers, got fractional values: for regression set "
                              "model.config.problem_type='regression' (num_labels=1); for soft labels give "
                              "(batch, num_labels) distributions.", labels)
        ids = labels.long()
        bad = valid & ((ids < 0) | (ids >= num_labels))
        check(bad, f"labels must be in [0, {num_labels}) or -100 (ignored). Check num_labels of the model.", ids)
        t = torch.zeros((ids.shape[0], num_labels), dtype=torch.float32, device=ids.device)
        t.scatter_(1, torch.where(valid, ids, 0)[:, None], valid[:, None].to(t.dtype))  # one-hot; ignored rows 0
    if label_smoothing > 0:
        t = t * (1.0 - label_smoothing) + label_smoothing / t.shape[1]
    return t


def token_targets(labels: torch.Tensor, num_labels: int, label_smoothing: float = 0.0) -> torch.Tensor:
    """One-hot (smoothed) targets per token (B, L, C) from class ids (B, L); unlabelled tokens get zeros."""
    if labels.dim() != 2 or labels.is_floating_point():
        raise ValueError(
            f"token classification labels must be class ids of shape (batch, length), got "
            f"{tuple(labels.shape)} {labels.dtype}; label sub-word continuations, special tokens and padding -100."
        )
    valid = labels != IGNORE_INDEX
    ids = labels.long()
    bad = valid & ((ids < 0) | (ids >= num_labels))
    check(bad.any(dim=1), f"token labels must be in [0, {num_labels}) or -100 (ignored). Check num_labels.", ids)
    t = torch.zeros((*ids.shape, num_labels), dtype=torch.float32, device=ids.device)
    t.scatter_(2, torch.where(valid, ids, 0)[..., None], valid[..., None].to(t.dtype))
    if label_smoothing > 0:
        t = torch.where(valid[..., None], t * (1.0 - label_smoothing) + label_smoothing / num_labels, t)
    return t


def mix_token_targets(targets: torch.Tensor, labelled: torch.Tensor, perm: torch.Tensor,
                      lam: torch.Tensor) -> torch.Tensor:
    """Per-token targets (B, L, C) of mixed rows: where the row and its partner both label a position,
    lam * own + (1 - lam) * partner's; where only the row does, its own (see the module docstring)."""
    lam = lam.to(targets.dtype)[:, None, None]
    both = (labelled & labelled[perm])[..., None]
    return torch.where(both, lam * targets + (1.0 - lam) * targets[perm], targets)


def mix_targets(targets: torch.Tensor, perm: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """lam * own target + (1 - lam) * partner's target, row by row."""
    lam = lam.to(targets.dtype)
    if targets.dim() == 2:
        lam = lam[:, None]
    return lam * targets + (1.0 - lam) * targets[perm]


def soft_loss(
    logits: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor, task_kind: str, reduction: str = "mean"
) -> torch.Tensor:
    """Loss over the valid rows (labelled tokens for token labels): their mean (0, with a gradient path,
    when none is valid) or sum."""
    logits = logits.float()
    if task_kind in ("single_label", "token"):  # token: per token (B, L), `valid` the labelled tokens
        per_row = -(targets * F.log_softmax(logits, dim=-1)).sum(-1)
    elif task_kind == "regression":
        per_row = (logits.reshape(logits.shape[0]) - targets) ** 2
    elif task_kind == "multi_label":
        per_row = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").mean(-1)
    else:
        raise ValueError(f"unknown task kind {task_kind!r}; expected one of {TASK_KINDS}.")
    weight = valid.to(per_row.dtype)
    total = (per_row * weight).sum()
    if reduction == "sum":
        return total
    if reduction != "mean":
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}.")
    return total / weight.sum().clamp_min(1.0)
