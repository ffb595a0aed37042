"""Ballot receipts and the canonical ballot list (pure functions, no database).

A receipt is a random code like `7F3K-Q9PA` given to a voter with their ballot. After close the
anonymised ballot list is published with the receipts, and its SHA-256 digest is kept in the
audit snapshot, so every voter can check that their ballot was counted as cast and anyone can
check that the published list is the one that was counted.

The canonical ballot list (documented for voters in docs/CAMPAIGNS.md) is UTF-8 text with one
line per ballot, ballots ordered by receipt (plain character order), each line
`RECEIPT entry_id:rank,entry_id:rank,…` with picks ordered by rank and ended by a line feed.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence

# Crockford's base-32 digits: no I, L, O or U, so a code read aloud or copied by hand is not
# mistaken for another. 8 characters give 2^40 codes per campaign.
RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RECEIPT_LENGTH = 8
DIGEST_ALGORITHM = "sha256"
CANONICAL_FORMAT = "patt-ballot-list-v1"

# (receipt, [(entry_id, rank), …]) — the picks in any order.
ReceiptedBallot = tuple[str, Sequence[tuple[int, int]]]


def new_receipt() -> str:
    """A fresh random receipt: two groups of four characters joined by a dash."""
    code = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(RECEIPT_LENGTH))
    return f"{code[:4]}-{code[4:]}"


def normalise_receipt(value: str) -> str | None:
    """A receipt as typed by a person (any case, spaces, dash optional, O for 0, I/L for 1),
    in its stored form; None when it cannot be a receipt."""
    cleaned = value.strip().upper().replace(" ", "").replace("-", "")
    cleaned = cleaned.translate(str.maketrans("OIL", "011"))
    if len(cleaned) != RECEIPT_LENGTH or any(c not in RECEIPT_ALPHABET for c in cleaned):
        return None
    return f"{cleaned[:4]}-{cleaned[4:]}"


def canonical_line(receipt: str, picks: Iterable[tuple[int, int]]) -> str:
    """`RECEIPT entry_id:rank,…` with the picks ordered by rank (then entry id), no newline."""
    ordered = sorted(picks, key=lambda pick: (pick[1], pick[0]))
    return f"{receipt} " + ",".join(f"{entry_id}:{rank}" for entry_id, rank in ordered)


def canonical_ballot_list(ballots: Iterable[ReceiptedBallot]) -> str:
    """The canonical text of a campaign's ballots: one line per ballot ordered by receipt, each
    ended by a line feed (no ballots → the empty text)."""
    lines = sorted(canonical_line(receipt, picks) for receipt, picks in ballots)
    return "".join(f"{line}\n" for line in lines)


def ballot_digest(ballots: Iterable[ReceiptedBallot]) -> str:
    """Lower-case hex SHA-256 of the canonical ballot list's UTF-8 bytes."""
    return digest_of_text(canonical_ballot_list(ballots))


def digest_of_text(canonical: str) -> str:
    """Lower-case hex SHA-256 of a canonical ballot list already rendered as text."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def point_table(method: str, picks_per_voter: int) -> list[int] | None:
    """Points per rank (rank 1 first) of a points-based method; None for methods that do not
    count points by position (instant-runoff, Schulze, and approval, where every pick is one
    approval whatever its stored rank)."""
    if method == "weighted":
        return [picks_per_voter - index for index in range(picks_per_voter)]
    return None
