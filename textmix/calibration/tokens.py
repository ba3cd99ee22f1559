"""Token classification (NER, POS): calibration over labelled tokens and entity-level scores.

Token-level figures treat every labelled token (label != -100: not a sub-word continuation, special
token or padding) as one prediction, so ECE and friends are those of `calibration_report` over the
flattened labelled tokens. Entity-level precision, recall and F1 (CoNLL style: an entity counts when
its type and its whole span are right) come from `seqeval`, over the first sub-token of each word
as labelled, with the tag names of `id2label`; entity-level calibration compares each predicted
entity's confidence (the mean top-tag probability over its tokens) with whether it is right.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..targets import IGNORE_INDEX
from .metrics import calibration_report, to_probabilities


def labelled_tokens(logits: Any, labels: Any, ignore_index: int = IGNORE_INDEX) -> tuple[np.ndarray, np.ndarray]:
    """The scores (M, C) and labels (M,) of the labelled tokens of `logits` (N, L, C) and `labels` (N, L)."""
    scores, y = np.asarray(logits), np.asarray(labels)
    if scores.ndim != 3 or y.shape != scores.shape[:2]:
        raise ValueError(f"token classification needs logits (N, L, C) and labels (N, L); got {scores.shape} "
                         f"and {y.shape}.")
    keep = y != ignore_index
    return scores[keep], y[keep]


def token_calibration_report(logits: Any, labels: Any, *, n_bins: int = 15, from_logits: bool = True,
                             ignore_index: int = IGNORE_INDEX) -> dict[str, float]:
    """`calibration_report` (accuracy, ece, adaptive_ece, mce, rmsce, classwise_ece, brier, nll) over labelled tokens."""
    scores, y = labelled_tokens(logits, labels, ignore_index)
    if y.size == 0:
        raise ValueError("no labelled token (every label is -100): nothing to measure.")
    return calibration_report(scores, y, n_bins=n_bins, from_logits=from_logits)


def tag_sequences(ids: Any, labels: Any, id2label: Mapping[int, str],
                  ignore_index: int = IGNORE_INDEX) -> list[list[str]]:
    """Tag names per sentence of `ids` (N, L), keeping the positions where `labels` is not -100."""
    ids, labels = np.asarray(ids), np.asarray(labels)
    return [[id2label[int(t)] for t, y in zip(row, lab, strict=True) if y != ignore_index]
            for row, lab in zip(ids, labels, strict=True)]


def entity_scores(predictions: Any, labels: Any, id2label: Mapping[int, str],
                  ignore_index: int = IGNORE_INDEX) -> dict[str, float]:
    """Entity precision, recall and F1 (seqeval, CoNLL evaluation) of predicted tag ids (N, L) or logits (N, L, C)."""
    try:
        from seqeval.metrics import f1_score, precision_score, recall_score
    except ImportError:
        raise ImportError("entity scores need seqeval: pip install 'textmix[ner]' (or pip install seqeval).") from None
    pred = np.asarray(predictions)
    if pred.ndim == 3:
        pred = pred.argmax(-1)
    true_tags = tag_sequences(labels, labels, id2label, ignore_index)
    pred_tags = tag_sequences(pred, labels, id2label, ignore_index)
    out = {"entity_precision": float(precision_score(true_tags, pred_tags, zero_division=0)),
           "entity_recall": float(recall_score(true_tags, pred_tags, zero_division=0)),
           "entity_f1": float(f1_score(true_tags, pred_tags, zero_division=0))}
    if np.asarray(predictions).ndim == 3:
        out.update(entity_calibration(predictions, labels, id2label, ignore_index=ignore_index))
    return out


def entity_confidences(logits: Any, labels: Any, id2label: Mapping[int, str], ignore_index: int = IGNORE_INDEX
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Confidence and correctness of every predicted entity: the mean top-tag probability over its
    (labelled) tokens, and whether a gold entity has the same type and span."""
    from seqeval.metrics.sequence_labeling import get_entities

    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    confidence, correct = [], []
    for row_probs, row_labels in zip(probs, labels, strict=True):
        keep = row_labels != ignore_index
        p = row_probs[keep]
        pred_tags = [id2label[int(t)] for t in p.argmax(-1)]
        gold = set(get_entities([id2label[int(t)] for t in row_labels[keep]]))
        for entity in get_entities(pred_tags):
            _, start, end = entity
            confidence.append(float(p[start:end + 1].max(-1).mean()))
            correct.append(entity in gold)
    return np.array(confidence), np.array(correct, dtype=bool)


def entity_calibration(logits: Any, labels: Any, id2label: Mapping[int, str], *, n_bins: int = 15,
                       ignore_index: int = IGNORE_INDEX) -> dict[str, float]:
    """Calibration of the predicted entities (`entity_confidences`): `entity_ece` (15 equal-width bins, as
    torchmetrics' binary calibration error of confidence against "the entity is right") and the count."""
    import torch
    from torchmetrics.functional.classification import binary_calibration_error

    confidence, correct = entity_confidences(logits, labels, id2label, ignore_index)
    if confidence.size == 0:
        return {"entity_ece": float("nan"), "predicted_entities": 0}
    ece = binary_calibration_error(torch.tensor(confidence), torch.tensor(correct, dtype=torch.long), n_bins=n_bins)
    return {"entity_ece": float(ece), "predicted_entities": int(confidence.size)}


def token_classification_metrics(id2label: Mapping[int, str] | Sequence[str], *, n_bins: int = 15,
                                 entities: bool = True) -> Callable[[Any], dict[str, float]]:
    """Build ``compute_metrics`` for token classification: token accuracy, the calibration figures over
    labelled tokens and (with `entities`) entity precision, recall and F1."""
    names = dict(enumerate(id2label)) if not isinstance(id2label, Mapping) else {int(k): v for k, v in id2label.items()}

    def compute_metrics(eval_pred: Any) -> dict[str, float]:
        logits, labels = (eval_pred.predictions, eval_pred.label_ids) if hasattr(eval_pred, "predictions") else eval_pred
        logits = logits[0] if isinstance(logits, tuple) else logits
        out = token_calibration_report(logits, labels, n_bins=n_bins)
        if entities:
            out.update(entity_scores(logits, labels, names))
        return out

    return compute_metrics


__all__ = ["entity_calibration", "entity_confidences", "entity_scores", "labelled_tokens", "tag_sequences", "token_calibration_report",
           "token_classification_metrics", "to_probabilities"]
