"""`shared_dir()`: $TEXTMIX_SHARED, else `shared` beside the checkout, else ../shared from the working directory."""

from __future__ import annotations

from pathlib import Path

import textmix
from textmix.harness.paths import shared_dir


def test_the_environment_variable_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTMIX_SHARED", str(tmp_path / "elsewhere"))
    assert shared_dir() == tmp_path / "elsewhere"


def test_beside_the_checkout_then_beside_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("TEXTMIX_SHARED", raising=False)
    checkout = tmp_path / "repo"
    (checkout / "textmix").mkdir(parents=True)
    monkeypatch.setattr(textmix, "__file__", str(checkout / "textmix" / "__init__.py"))
    work = tmp_path / "work" / "here"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    assert shared_dir() == Path.cwd().parent / "shared"  # no tmp/shared yet: ../shared from the working directory
    (tmp_path / "shared").mkdir()
    assert shared_dir() == (tmp_path / "shared").resolve()  # beside the checkout the package came from
