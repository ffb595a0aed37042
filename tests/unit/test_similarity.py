"""Fuzzy similarity and the bulk pair search."""

from __future__ import annotations

import random

import pytest
from rapidfuzz import fuzz

from sv_common.identity.matching.similarity import key_similarity, similar_pairs, similarity


def test_equal_names_score_one() -> None:
    assert similarity("Aldrameth", "aldrameth") == 1.0
    assert similarity("Zoëlle", "ZOELLE") == 1.0


def test_containment_is_short_over_long() -> None:
    assert similarity("aldra", "Aldrameth") == pytest.approx(5 / 9)
    assert similarity("Aldrameth", "aldramethh") == pytest.approx(0.9)
    assert similarity("Aldrameth", "aldramethh") >= 0.85


def test_near_miss_between_the_thresholds() -> None:
    score = similarity("Zoëlle", "zoelie")
    assert score == pytest.approx(10 / 12)
    assert 0.70 <= score < 0.85


def test_unrelated_and_empty() -> None:
    assert similarity("Aldrameth", "stonehoof") < 0.70
    assert similarity("", "stonehoof") == 0.0
    assert similarity(None, None) == 0.0
    assert similarity("---", "stonehoof") == 0.0


def test_exact_seventy_percent_is_kept() -> None:
    # 2·7 / (10 + 10) = 0.70 exactly: on the threshold, not below it
    assert key_similarity("abcdefgxyz", "abcdefghij") == 0.7
    assert similar_pairs(["abcdefgxyz"], ["abcdefghij"], threshold=0.70) == [(0, 0, 0.7)]


def test_scores_stay_in_range() -> None:
    rng = random.Random(7)
    letters = "abcdefghij"
    for _ in range(500):
        a = "".join(rng.choice(letters) for _ in range(rng.randint(0, 8)))
        b = "".join(rng.choice(letters) for _ in range(rng.randint(0, 8)))
        assert 0.0 <= similarity(a, b) <= 1.0
        assert similarity(a, b) == similarity(b, a)


def test_bulk_search_equals_the_exhaustive_comparison() -> None:
    rng = random.Random(11)
    syllables = ["al", "dra", "meth", "sto", "ne", "hoof", "zo", "el", "le", "bra", "nix", "ka"]

    def name() -> str:
        return "".join(rng.choice(syllables) for _ in range(rng.randint(1, 4)))

    left = [name() for _ in range(150)]
    right = [name() for _ in range(200)]
    found = {(i, j): s for i, j, s in similar_pairs(left, right, threshold=0.70)}
    expected = {
        (i, j): key_similarity(a, b)
        for i, a in enumerate(left)
        for j, b in enumerate(right)
        if key_similarity(a, b) >= 0.70
    }
    assert found == expected
    assert found  # the data does contain qualifying pairs


def test_bulk_search_spans_several_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    from sv_common.identity.matching import similarity as module

    monkeypatch.setattr(module, "CHUNK_ROWS", 3)
    left = ["aldrameth", "stonehoof", "zoelle", "branix", "kaelen", "aldramethh", "zoelie"]
    right = ["aldrameth", "zoelie"]
    pairs = sorted(similar_pairs(left, right, threshold=0.70))
    assert [(i, j) for i, j, _ in pairs] == [(0, 0), (2, 1), (5, 0), (6, 1)]


def test_rescoring_only_lowers_scores() -> None:
    # containment is never above the Indel ratio, so the cdist pre-filter loses nothing
    for short, long in [("aldra", "aldrameth"), ("ab", "abc"), ("meth", "aldrameth")]:
        assert key_similarity(short, long) <= fuzz.ratio(short, long) / 100
