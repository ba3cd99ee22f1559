"""What the recipes share: atomic result files, reading them back, the majority-class accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest

from textmix.harness.recipes.common import majority_accuracy, read_results, save_npz_atomic, write_json_atomic


def test_majority_accuracy():
    assert majority_accuracy([0, 1, 1, 1]) == 0.75


def test_atomic_writes_leave_no_temporary_files(tmp_path):
    write_json_atomic(tmp_path / "results.json", {"a": 1, "path": tmp_path})
    save_npz_atomic(tmp_path / "predictions.npz", {"test_logits": np.eye(3)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.npz", "results.json"]
    assert json.loads((tmp_path / "results.json").read_text()) == {"a": 1, "path": str(tmp_path)}
    with np.load(tmp_path / "predictions.npz", allow_pickle=False) as arrays:
        np.testing.assert_array_equal(arrays["test_logits"], np.eye(3))
    assert read_results(tmp_path) == {"a": 1, "path": str(tmp_path)}
    with pytest.raises(FileNotFoundError, match="has not finished"):
        read_results(tmp_path / "nothing")
