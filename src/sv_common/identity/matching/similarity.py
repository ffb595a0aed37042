"""Fuzzy name similarity and the bulk search for similar name pairs (pure).

`similarity` is the one definition of the score. `similar_pairs` finds every pair at or above a
threshold between two lists of keys without a Python double loop: rapidfuzz's C++ `cdist`
scores whole blocks of pairs with a cut-off, numpy picks the surviving cells, and only those
few are rescored exactly with `similarity`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy
from rapidfuzz import fuzz, process

from sv_common.identity.names import key

CHUNK_ROWS = 1000  # rows of one cdist block: 1,000 × 15,000 names is 15 MB of uint8


def key_similarity(left: str, right: str) -> float:
    """Score in [0, 1] of two keys (see `similarity`)."""
    if not left or not right:
        return 0.0
    if left == right:
        return 1.0
    shorter, longer = (left, right) if len(left) <= len(right) else (right, left)
    if shorter in longer:
        # A name inside a longer one ("aldra" in "aldrameth") is only as similar as the share of
        # the longer name it covers; the Indel ratio would rate it higher than that.
        return len(shorter) / len(longer)
    return fuzz.ratio(left, right) / 100.0


def similarity(a: str | None, b: str | None) -> float:
    """Similarity of two names compared by key: 1.0 equal, short/long for containment, else the
    normalised Indel similarity 2·LCS/(len a + len b); 0.0 when either key is empty."""
    return key_similarity(key(a), key(b))


def _groups(keys: Sequence[str]) -> tuple[list[str], list[list[int]]]:
    """Distinct keys (first-seen order) and the positions where each occurs."""
    position: dict[str, int] = {}
    distinct: list[str] = []
    where: list[list[int]] = []
    for index, value in enumerate(keys):
        slot = position.get(value)
        if slot is None:
            slot = position[value] = len(distinct)
            distinct.append(value)
            where.append([])
        where[slot].append(index)
    return distinct, where


def similar_pairs(
    left: Sequence[str], right: Sequence[str], *, threshold: float
) -> list[tuple[int, int, float]]:
    """Every (i, j, score) with `key_similarity(left[i], right[j]) >= threshold`.

    Both sides are keys. The cdist cut-off is the threshold in percent rounded down; containment
    rescoring can only lower a score, so no qualifying pair is lost by the pre-filter.
    """
    left_keys, left_where = _groups(left)
    right_keys, right_where = _groups(right)
    if not left_keys or not right_keys:
        return []
    cutoff = max(0, math.floor(threshold * 100))
    found: list[tuple[int, int, float]] = []
    for start in range(0, len(left_keys), CHUNK_ROWS):
        block = left_keys[start : start + CHUNK_ROWS]
        scores = process.cdist(
            block,
            right_keys,
            scorer=fuzz.ratio,
            score_cutoff=cutoff,
            dtype=numpy.uint8,
            workers=-1,
        )
        rows, columns = numpy.nonzero(scores)
        for row, column in zip(rows.tolist(), columns.tolist(), strict=True):
            left_key = block[row]
            right_key = right_keys[column]
            score = key_similarity(left_key, right_key)
            if score < threshold:
                continue
            for i in left_where[start + row]:
                for j in right_where[column]:
                    found.append((i, j, score))
    return found
