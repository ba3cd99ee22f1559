"""Seeded word-level corruptions of text, for corrupted copies of text test sets.

Words are whitespace-separated tokens (``str.split()``); corrupted texts are rejoined with single spaces, so
the output is always whitespace-normalised (a text without words comes back as ``""``).

Severity sets the share of a text's words that are touched:

=========  =====
severity   share
=========  =====
1          0.05
2          0.10
3          0.20
4          0.30
5          0.40
=========  =====

A text of ``n >= 1`` words gets ``k = max(1, round_half_up(share * n))`` touched words: even a short text is
corrupted at severity 1. The kinds (``TEXT_CORRUPTIONS``):

* ``typo``: one character-level edit in each touched word, chosen uniformly among deleting a character,
  inserting a random lowercase letter, substituting a character with a different lowercase letter, and
  swapping two adjacent characters (a word of one character gets substitution or insertion only; a swap of two
  equal characters becomes a substitution), so every touched word really changes.
* ``deletion``: the touched words are removed, at most ``n - 1`` of them, so at least one word is left (a
  one-word text is unchanged).
* ``swap``: ``min(k, n - 1)`` distinct adjacent pairs ``(i, i + 1)`` are transposed, left to right (a run of
  chosen pairs moves one word several places). A text needs at least 2 words, otherwise it is unchanged.
* ``mask``: the touched words become ``mask_token``.

Determinism: text ``i`` of a call uses ``numpy.random.default_rng([seed, i])``, so its corrupted copy depends
only on ``(seed, i, text)``: the same for every caller, model and mixing method. Touched words are a prefix
of one random permutation, so a higher severity touches a superset of the words of a lower one (for ``typo``
the edits of the shared words are the same too). `corrupt_words` uses the same draws as `corrupt_text`, so a
pre-split sentence gets the same words as its joined text.
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from typing import Any

import numpy as np

TEXT_CORRUPTIONS = ("typo", "deletion", "swap", "mask")
SEVERITIES = (1, 2, 3, 4, 5)

_WORD_SHARE = {1: 0.05, 2: 0.1, 3: 0.2, 4: 0.3, 5: 0.4}
_LETTERS = string.ascii_lowercase
_TYPO_EDITS = ("delete", "insert", "substitute", "swap")

__all__ = ["SEVERITIES", "TEXT_CORRUPTIONS", "corrupt_text", "corrupt_words", "word_share"]


def check_severity(severity: Any) -> int:
    """`severity` as an int, or a ValueError naming the allowed values 1..5."""
    if isinstance(severity, bool) or not isinstance(severity, int | np.integer) or int(severity) not in SEVERITIES:
        raise ValueError(f"severity must be an int in {SEVERITIES}, got {severity!r}")
    return int(severity)


def check_seed(seed: Any) -> int:
    """`seed` as a non-negative int, or a ValueError."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or int(seed) < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def _check_kind(kind: Any) -> str:
    if kind not in TEXT_CORRUPTIONS:
        raise ValueError(f"unknown text corruption {kind!r}; choose one of {TEXT_CORRUPTIONS}")
    return kind


def word_share(severity: int) -> float:
    """Share of a text's words touched at `severity` (1 -> 0.05, 2 -> 0.1, 3 -> 0.2, 4 -> 0.3, 5 -> 0.4)."""
    return _WORD_SHARE[check_severity(severity)]


def touched_count(n_words: int, severity: int) -> int:
    """Number of words touched in a text of `n_words` words: ``max(1, round_half_up(share * n))``, 0 if empty."""
    if n_words <= 0:
        return 0
    return max(1, math.floor(word_share(severity) * n_words + 0.5))


def _typo(word: str, rng: np.random.Generator) -> str:
    """`word` with one random character-level edit; the result always differs from `word`."""
    edits = _TYPO_EDITS if len(word) >= 2 else ("insert", "substitute")
    edit = edits[int(rng.integers(len(edits)))]
    if edit == "delete":
        i = int(rng.integers(len(word)))
        return word[:i] + word[i + 1:]
    if edit == "insert":
        i = int(rng.integers(len(word) + 1))
        return word[:i] + _LETTERS[int(rng.integers(len(_LETTERS)))] + word[i:]
    i = int(rng.integers(len(word) - 1 if edit == "swap" else len(word)))
    if edit == "swap" and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    others = [c for c in _LETTERS if c != word[i]]
    return word[:i] + others[int(rng.integers(len(others)))] + word[i + 1:]


def _corrupt_one(words: list[str], kind: str, severity: int, rng: np.random.Generator, mask_token: str
                 ) -> tuple[list[str], list[int]]:
    """The corrupted words and, for each of them, the index of the input word it comes from."""
    n = len(words)
    k = touched_count(n, severity)
    source = list(range(n))
    if kind == "swap":
        if n < 2:
            return list(words), source
        for i in sorted(int(j) for j in rng.permutation(n - 1)[:min(k, n - 1)]):
            source[i], source[i + 1] = source[i + 1], source[i]
        return [words[j] for j in source], source
    touched = [int(j) for j in rng.permutation(n)[:k]]
    if kind == "deletion":
        dropped = set(touched[:min(k, n - 1)])
        source = [j for j in source if j not in dropped]
        return [words[j] for j in source], source
    out = list(words)
    for j in touched:
        out[j] = mask_token if kind == "mask" else _typo(words[j], rng)
    return out, source


def _check_common(kind: str, severity: int, seed: int, mask_token: Any) -> tuple[str, int, int]:
    if not isinstance(mask_token, str):
        raise ValueError(f"mask_token must be a string, got {mask_token!r}")
    return _check_kind(kind), check_severity(severity), check_seed(seed)


def corrupt_text(texts: Sequence[str], kind: str, severity: int, seed: int, mask_token: str = "[MASK]"
                 ) -> list[str]:
    """A corrupted copy of every text (see the module docstring for kinds, severities and seeding)."""
    kind, severity, seed = _check_common(kind, severity, seed, mask_token)
    if isinstance(texts, str):
        raise ValueError("texts must be a sequence of strings, not one string; wrap it in a list")
    out = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"texts[{i}] must be a string, got {type(text).__name__}")
        words, _ = _corrupt_one(text.split(), kind, severity, np.random.default_rng([seed, i]), mask_token)
        out.append(" ".join(words))
    return out


def corrupt_words(sentences: Sequence[tuple[list[str], list[str]]], kind: str, severity: int, seed: int,
                  mask_token: str = "[MASK]") -> list[tuple[list[str], list[str]]]:
    """A corrupted copy of every ``(words, tags)`` sentence, tags kept aligned with their words.

    ``typo`` and ``mask`` keep every tag in place, ``deletion`` drops a deleted word's tag, ``swap`` moves tags
    with their words. The inputs are not modified.
    """
    kind, severity, seed = _check_common(kind, severity, seed, mask_token)
    out = []
    for i, sentence in enumerate(sentences):
        try:
            words, tags = sentence
        except (TypeError, ValueError):
            raise ValueError(f"sentences[{i}] must be a (words, tags) pair") from None
        if isinstance(words, str) or len(words) != len(tags):
            raise ValueError(f"sentences[{i}] needs a list of words and one tag per word; got "
                             f"{'a string' if isinstance(words, str) else len(words)} words and {len(tags)} tags")
        new_words, source = _corrupt_one(list(words), kind, severity, np.random.default_rng([seed, i]), mask_token)
        out.append((new_words, [tags[j] for j in source]))
    return out
