"""textmix.robustness.text: seeded word-level corruptions of texts and of tagged sentences."""

from __future__ import annotations

import numpy as np
import pytest

from textmix.robustness import SEVERITIES, TEXT_CORRUPTIONS, corrupt_text, corrupt_words, word_share


def distinct_texts(n_texts: int = 40, seed: int = 0) -> list[str]:
    """Texts of 5..40 distinct words, so a changed position is a changed word."""
    rng = np.random.default_rng(seed)
    return [" ".join(f"w{j}x{i}" for j in range(int(rng.integers(5, 41)))) for i in range(n_texts)]


def changed_share(before: str, after: str, kind: str) -> float:
    """Share of the words of `before` that the corruption changed."""
    old, new = before.split(), after.split()
    if kind == "deletion":
        return 1 - len(new) / len(old)
    assert len(new) == len(old)
    return sum(a != b for a, b in zip(old, new, strict=True)) / len(old)


def test_word_share_table():
    assert [word_share(s) for s in SEVERITIES] == [0.05, 0.1, 0.2, 0.3, 0.4]
    assert TEXT_CORRUPTIONS == ("typo", "deletion", "swap", "mask")


@pytest.mark.parametrize("kind", TEXT_CORRUPTIONS)
def test_same_seed_same_output_other_seed_other_output(kind):
    texts = distinct_texts(10)
    first = corrupt_text(texts, kind, 3, seed=7)
    assert first == corrupt_text(texts, kind, 3, seed=7)
    assert first != texts
    assert first != corrupt_text(texts, kind, 3, seed=8)


@pytest.mark.parametrize("kind", TEXT_CORRUPTIONS)
def test_a_text_depends_only_on_seed_index_and_itself(kind):
    texts = distinct_texts(6)
    full = corrupt_text(texts, kind, 4, seed=3)
    # Same text at the same index among other texts: same copy; the batch around it does not matter.
    others = distinct_texts(6, seed=99)
    assert corrupt_text(others[:2] + [texts[2]], kind, 4, seed=3)[2] == full[2]
    assert corrupt_text(texts[:3], kind, 4, seed=3) == full[:3]


@pytest.mark.parametrize("kind", TEXT_CORRUPTIONS)
def test_severity_is_monotone_in_the_share_of_words_changed(kind):
    texts = distinct_texts(40)
    shares = []
    for severity in SEVERITIES:
        out = corrupt_text(texts, kind, severity, seed=11)
        shares.append(float(np.mean([changed_share(a, b, kind) for a, b in zip(texts, out, strict=True)])))
    assert all(lo <= hi for lo, hi in zip(shares, shares[1:], strict=False)), shares
    assert shares[-1] > shares[0] + 0.2, shares


@pytest.mark.parametrize("kind", ["typo", "mask", "deletion"])
def test_touched_word_count_follows_the_table(kind):
    text = " ".join(f"w{j}" for j in range(20))
    for severity, expected in zip(SEVERITIES, (1, 2, 4, 6, 8), strict=True):  # 20 * share, at least 1
        out = corrupt_text([text], kind, severity, seed=5)[0]
        assert changed_share(text, out, kind) * 20 == pytest.approx(expected)


def test_at_least_one_word_is_touched_even_in_short_texts():
    for kind in ("typo", "mask"):
        assert corrupt_text(["hello"], kind, 1, seed=0) != ["hello"]
    assert corrupt_text(["hello world"], "swap", 1, seed=0) == ["world hello"]
    assert corrupt_text(["hello world"], "deletion", 1, seed=0)[0] in ("hello", "world")


def test_edge_cases_deletion_keeps_a_word_swap_needs_two():
    assert corrupt_text(["alone"], "deletion", 5, seed=0) == ["alone"]
    assert corrupt_text(["alone"], "swap", 5, seed=0) == ["alone"]
    assert corrupt_text(["a b"], "deletion", 5, seed=1)[0] in ("a", "b")
    assert corrupt_text(["", "   "], "typo", 5, seed=0) == ["", ""]
    assert corrupt_text(["  two   spaces  "], "mask", 1, seed=0)[0].count(" ") == 1


def test_mask_uses_the_mask_token():
    out = corrupt_text(["a b c d e f g h i j"], "mask", 5, seed=0, mask_token="<mask>")[0].split()
    assert out.count("<mask>") == 4  # 10 words * 0.4
    assert [w for w in out if w != "<mask>"] == [w for w in "a b c d e f g h i j".split() if w in out]


def test_typo_changes_each_touched_word_by_one_edit():
    text = " ".join(["robustness"] * 10 + ["x"] * 10)
    out = corrupt_text([text], "typo", 5, seed=2)[0].split()
    changed = [(a, b) for a, b in zip(text.split(), out, strict=True) if a != b]
    assert len(changed) == 8
    for old, new in changed:
        assert abs(len(old) - len(new)) <= 1
        if len(new) == len(old) - 1:  # a deleted character
            assert any(old[:i] + old[i + 1:] == new for i in range(len(old)))
        if len(new) == len(old) + 1:  # an inserted lowercase letter
            assert any(new[:i] + new[i + 1:] == old and new[i].islower() for i in range(len(new)))
        if len(new) == len(old):  # substitution or adjacent swap
            diff = [i for i in range(len(old)) if old[i] != new[i]]
            assert len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and sorted(old) == sorted(new))
        if old == "x":
            assert len(new) in (1, 2)


def test_swap_is_a_permutation_of_the_words():
    texts = distinct_texts(10)
    for a, b in zip(texts, corrupt_text(texts, "swap", 5, seed=4), strict=True):
        assert sorted(a.split()) == sorted(b.split()) and a != b


def test_higher_severity_touches_a_superset():
    text = distinct_texts(1)[0]
    words = text.split()
    masked = [set(i for i, w in enumerate(corrupt_text([text], "mask", s, seed=1)[0].split()) if w != words[i])
              for s in SEVERITIES]
    assert all(lo <= hi for lo, hi in zip(masked, masked[1:], strict=False))


# ------------------------------------------------------------------------------------- tagged sentences


def tagged(n: int = 12, n_sentences: int = 8) -> list[tuple[list[str], list[str]]]:
    return [([f"w{j}s{i}" for j in range(n + i)], [f"T{j}s{i}" for j in range(n + i)]) for i in range(n_sentences)]


@pytest.mark.parametrize("kind", ["typo", "mask"])
def test_typo_and_mask_keep_tags_in_place(kind):
    sentences = tagged()
    out = corrupt_words(sentences, kind, 5, seed=3)
    for (words, tags), (new_words, new_tags) in zip(sentences, out, strict=True):
        assert new_tags == tags
        assert len(new_words) == len(words) and new_words != words


def test_deletion_drops_exactly_the_deleted_words_tags():
    sentences = tagged()
    for (words, tags), (new_words, new_tags) in zip(sentences, corrupt_words(sentences, "deletion", 4, seed=3),
                                                    strict=True):
        kept = [i for i, w in enumerate(words) if w in new_words]
        assert new_words == [words[i] for i in kept]
        assert new_tags == [tags[i] for i in kept]
        assert len(kept) < len(words)


def test_swap_moves_tags_with_their_words():
    sentences = tagged()
    for (words, tags), (new_words, new_tags) in zip(sentences, corrupt_words(sentences, "swap", 5, seed=3),
                                                    strict=True):
        tag_of = dict(zip(words, tags, strict=True))
        assert new_words != words
        assert new_tags == [tag_of[w] for w in new_words]


@pytest.mark.parametrize("kind", TEXT_CORRUPTIONS)
def test_words_and_text_get_the_same_corruption(kind):
    sentences = tagged()
    texts = [" ".join(words) for words, _ in sentences]
    from_words = [" ".join(w) for w, _ in corrupt_words(sentences, kind, 3, seed=9)]
    assert from_words == corrupt_text(texts, kind, 3, seed=9)


def test_inputs_are_not_modified():
    sentences = tagged(n_sentences=2)
    snapshot = [(list(w), list(t)) for w, t in sentences]
    corrupt_words(sentences, "swap", 5, seed=0)
    corrupt_words(sentences, "typo", 5, seed=0)
    assert sentences == snapshot


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"kind": "shuffle"}, r"unknown text corruption 'shuffle'; choose one of \('typo', 'deletion', 'swap', 'mask'\)"),
    ({"severity": 0}, r"severity must be an int in \(1, 2, 3, 4, 5\), got 0"),
    ({"severity": 6}, r"severity must be an int in \(1, 2, 3, 4, 5\)"),
    ({"severity": 2.0}, r"severity must be an int"),
    ({"severity": True}, r"severity must be an int"),
    ({"seed": -1}, r"seed must be a non-negative int"),
    ({"seed": 1.5}, r"seed must be a non-negative int"),
    ({"mask_token": None}, r"mask_token must be a string"),
])
def test_bad_arguments_raise_a_helpful_value_error(kwargs, message):
    args = {"kind": "typo", "severity": 1, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=message):
        corrupt_text(["a b c"], **args)
    with pytest.raises(ValueError, match=message):
        corrupt_words([(["a"], ["O"])], **args)


def test_bad_texts_and_sentences_raise():
    with pytest.raises(ValueError, match="not one string"):
        corrupt_text("a b c", "typo", 1, 0)
    with pytest.raises(ValueError, match=r"texts\[1\] must be a string"):
        corrupt_text(["a", 3], "typo", 1, 0)
    with pytest.raises(ValueError, match=r"sentences\[0\] needs .* one tag per word; got 2 words and 1 tags"):
        corrupt_words([(["a", "b"], ["O"])], "mask", 1, 0)
    with pytest.raises(ValueError, match=r"sentences\[0\] must be a \(words, tags\) pair"):
        corrupt_words([(["a"],)], "mask", 1, 0)
    with pytest.raises(ValueError, match="severity"):
        word_share(0)
