"""Small datasets and a collator for Trainer tests on tiny random models."""

from __future__ import annotations

import torch
from conftest import VOCAB
from datasets import Dataset


def ragged_dataset(n: int = 64, num_labels: int = 3, seed: int = 0, regression: bool = False,
                   multi_label: bool = False) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    rows = {"input_ids": [], "label": [], "sentence": []}
    for i in range(n):
        length = int(torch.randint(4, 14, (1,), generator=g))
        ids = [1] + torch.randint(3, VOCAB, (length - 2,), generator=g).tolist() + [2]
        rows["input_ids"].append(ids)
        rows["sentence"].append(f"row {i}")  # a text column the model does not take
        if regression:
            rows["label"].append(float(torch.rand((), generator=g)) * 5)
        elif multi_label:
            rows["label"].append(torch.randint(0, 2, (num_labels,), generator=g).float().tolist())
        else:
            rows["label"].append(int(ids[1] % num_labels))  # learnable from the first token
    return Dataset.from_dict(rows)


def pad_collate(features: list[dict]) -> dict[str, torch.Tensor]:
    length = max(len(f["input_ids"]) for f in features)
    ids = torch.zeros((len(features), length), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, f in enumerate(features):
        ids[i, : len(f["input_ids"])] = torch.tensor(f["input_ids"])
        mask[i, : len(f["input_ids"])] = 1
    key = "labels" if "labels" in features[0] else "label"
    labels = torch.tensor([f[key] for f in features])
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
