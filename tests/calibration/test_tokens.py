"""Token-level calibration and entity scores, against torchmetrics over a per-token loop and a hand count."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics.functional.classification import multiclass_calibration_error

from textmix.calibration import (
    calibration_report,
    entity_scores,
    token_calibration_report,
    token_classification_metrics,
)

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def batch(seed: int = 0, n: int = 40, length: int = 9):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn((n, length, len(TAGS)), generator=g) * 2
    labels = torch.randint(0, len(TAGS), (n, length), generator=g)
    labels[torch.rand((n, length), generator=g) < 0.3] = -100
    return logits.numpy(), labels.numpy()


def test_token_figures_are_those_of_the_labelled_tokens():
    logits, labels = batch()
    flat_scores, flat_labels = [], []
    for i in range(labels.shape[0]):  # a loop, on purpose
        for t in range(labels.shape[1]):
            if labels[i, t] != -100:
                flat_scores.append(logits[i, t])
                flat_labels.append(labels[i, t])
    report = token_calibration_report(logits, labels)
    assert report == calibration_report(np.stack(flat_scores), np.array(flat_labels))
    probs = torch.softmax(torch.tensor(np.stack(flat_scores)), -1)
    ece = float(multiclass_calibration_error(probs, torch.tensor(flat_labels), num_classes=len(TAGS), n_bins=15))
    assert report["ece"] == pytest.approx(ece, abs=1e-6)


def test_entity_scores_count_whole_entities_and_skip_ignored_tokens():
    ids = {t: i for i, t in enumerate(TAGS)}
    true = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC"], ["O", "B-LOC", "O", "O", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-LOC", "O"], ["O", "B-LOC", "O", "B-PER", "O"]]
    labels = np.array([[ids[t] for t in row] for row in true])
    predictions = np.array([[ids[t] for t in row] for row in pred])
    # a sub-word continuation (-100) between tokens, predicted as anything: never counted
    labels = np.insert(labels, 1, -100, axis=1)
    predictions = np.insert(predictions, 1, ids["B-LOC"], axis=1)
    scores = entity_scores(predictions, labels, dict(enumerate(TAGS)))
    # entities: true {PER(0-1), LOC(3-4)} and {LOC(1)}; predicted {PER(0-1), LOC(3)} and {LOC(1), PER(3)}
    # right: PER(0-1), LOC(1) -> precision 2/4, recall 2/3
    assert scores["entity_precision"] == pytest.approx(0.5)
    assert scores["entity_recall"] == pytest.approx(2 / 3)
    assert scores["entity_f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))


def test_compute_metrics_for_the_trainer():
    from transformers import EvalPrediction

    logits, labels = batch(seed=1)
    out = token_classification_metrics(TAGS)(EvalPrediction(predictions=logits, label_ids=labels))
    assert out["ece"] == token_calibration_report(logits, labels)["ece"]
    assert {"accuracy", "nll", "entity_f1", "entity_precision", "entity_recall"} <= set(out)


def test_shapes_and_empty_inputs_are_errors():
    logits, labels = batch()
    with pytest.raises(ValueError, match=r"logits \(N, L, C\) and labels \(N, L\)"):
        token_calibration_report(logits[:, :, 0], labels)
    with pytest.raises(ValueError, match="no labelled token"):
        token_calibration_report(logits, np.full_like(labels, -100))


def test_entity_calibration_against_a_hand_count():
    from textmix.calibration import entity_calibration

    names = dict(enumerate(TAGS))
    # one sentence, 4 labelled tokens; gold: PER(0-1), LOC(3)
    labels = np.array([[1, 2, 0, 3]])
    probs = np.array([[[0.1, 0.8, 0.05, 0.03, 0.02],    # B-PER 0.8
                       [0.1, 0.1, 0.6, 0.1, 0.1],       # I-PER 0.6  -> PER(0-1) right, confidence 0.7
                       [0.9, 0.05, 0.02, 0.02, 0.01],   # O
                       [0.3, 0.4, 0.1, 0.1, 0.1]]])     # B-PER 0.4  -> PER(3) wrong, confidence 0.4
    out = entity_calibration(np.log(probs), labels, names)
    # bins of width 1/15: 0.7 and 0.4 fall in different bins; ECE = (|0.7 - 1| + |0.4 - 0|) / 2
    assert out["predicted_entities"] == 2
    assert out["entity_ece"] == pytest.approx((0.3 + 0.4) / 2, abs=1e-6)
    scores = entity_scores(np.log(probs), labels, names)  # logits: the calibration comes along
    assert scores["entity_ece"] == pytest.approx(out["entity_ece"]) and scores["entity_precision"] == 0.5
