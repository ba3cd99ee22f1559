"""Which checkpoint a run resumes from: the newest marked complete whose files are as written."""

from __future__ import annotations

import json

import pytest

from textmix.checkpoints import (
    COMPLETE_MARKER,
    checkpoint_problem,
    last_complete_checkpoint,
    write_complete_marker,
)


def checkpoint(root, step: int, marked: bool = True):
    folder = root / f"checkpoint-{step}"
    folder.mkdir()
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (folder / "model.safetensors").write_bytes(b"x" * 100)
    if marked:
        write_complete_marker(folder)
    return folder


def test_the_newest_complete_checkpoint_is_used(tmp_path):
    checkpoint(tmp_path, 2)
    newest = checkpoint(tmp_path, 4)
    checkpoint(tmp_path, 6, marked=False)  # killed while saving
    assert last_complete_checkpoint(tmp_path) == str(newest)
    assert json.loads((newest / COMPLETE_MARKER).read_text())["sizes"]["model.safetensors"] == 100


def test_a_file_truncated_or_lost_after_the_marker_skips_the_checkpoint(tmp_path):
    earlier = checkpoint(tmp_path, 2)
    newest = checkpoint(tmp_path, 4)
    (newest / "model.safetensors").write_bytes(b"x" * 10)
    assert "has 10 bytes where 100 were written" in checkpoint_problem(newest)
    with pytest.warns(UserWarning, match="skipping .*checkpoint-4"):
        assert last_complete_checkpoint(tmp_path) == str(earlier)
    (earlier / "model.safetensors").unlink()
    with pytest.warns(UserWarning):
        assert last_complete_checkpoint(tmp_path) is None
