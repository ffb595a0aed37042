"""Ballot receipts and the canonical ballot list whose SHA-256 is the audit digest (40 §9.1–9.2).

The expected texts and digests here are the documented format of docs/CAMPAIGNS.md: if one of
them has to change, every published digest changes meaning, so the format gets a new name.
"""

from __future__ import annotations

import hashlib
import re

import pytest

from patt.campaigns import eligibility, receipts

RECEIPT = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def test_new_receipts_use_the_unambiguous_alphabet_and_differ() -> None:
    drawn = {receipts.new_receipt() for _ in range(500)}
    assert all(RECEIPT.match(code) for code in drawn)
    assert len(drawn) == 500
    assert not set("ILOU") & set("".join(drawn))


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("7F3K-Q9PA", "7F3K-Q9PA"),
        ("7f3k q9pa", "7F3K-Q9PA"),
        (" 7f3kq9pa ", "7F3K-Q9PA"),
        ("OI1L-0000", "0111-0000"),
        ("7F3K-Q9P", None),
        ("7F3K-Q9PAX", None),
        ("7F3K-Q9PU", None),
        ("", None),
    ],
)
def test_normalise_receipt(typed: str, stored: str | None) -> None:
    assert receipts.normalise_receipt(typed) == stored


def test_canonical_line_orders_picks_by_rank() -> None:
    assert receipts.canonical_line("7F3K-Q9PA", [(32, 3), (31, 1), (33, 2)]) == (
        "7F3K-Q9PA 31:1,33:2,32:3"
    )


def test_canonical_list_orders_ballots_by_receipt_and_ends_each_line() -> None:
    ballots = [
        ("Q000-0001", [(2, 1), (1, 2)]),
        ("7F3K-Q9PA", [(1, 1), (2, 2)]),
        ("0ABC-DEF1", [(3, 2), (1, 1)]),
    ]
    assert receipts.canonical_ballot_list(ballots) == (
        "0ABC-DEF1 1:1,3:2\n7F3K-Q9PA 1:1,2:2\nQ000-0001 2:1,1:2\n"
    )


def test_digest_is_sha256_of_the_utf8_text() -> None:
    ballots = [
        ("7F3K-Q9PA", [(31, 1), (33, 2), (32, 3)]),
        ("2B7D-XK4M", [(33, 1), (31, 2), (32, 3)]),
    ]
    text = "2B7D-XK4M 33:1,31:2,32:3\n7F3K-Q9PA 31:1,33:2,32:3\n"
    assert receipts.canonical_ballot_list(ballots) == text
    expected = hashlib.sha256(text.encode()).hexdigest()
    assert receipts.ballot_digest(ballots) == expected == receipts.digest_of_text(text)
    # the worked example of docs/CAMPAIGNS.md
    assert expected == "46513b3a62d425b1afc869c629c6c91aa16bc78020b07b381c0dfc24bbd0272b"


def test_digest_does_not_depend_on_input_order_but_on_every_pick() -> None:
    a = [("AAAA-0001", [(1, 1), (2, 2)]), ("BBBB-0002", [(2, 1), (1, 2)])]
    assert receipts.ballot_digest(a) == receipts.ballot_digest(list(reversed(a)))
    moved = [("AAAA-0001", [(2, 1), (1, 2)]), ("BBBB-0002", [(1, 1), (2, 2)])]
    assert receipts.ballot_digest(a) != receipts.ballot_digest(moved)  # same totals, other ballots
    assert receipts.ballot_digest(a) != receipts.ballot_digest(a[:1])


def test_empty_list_digest_is_sha256_of_nothing() -> None:
    assert receipts.canonical_ballot_list([]) == ""
    assert receipts.ballot_digest([]) == hashlib.sha256(b"").hexdigest()


def test_ballot_without_picks_still_has_a_line() -> None:
    assert receipts.canonical_ballot_list([("AAAA-0001", [])]) == "AAAA-0001 \n"


@pytest.mark.parametrize(
    ("method", "n", "table"),
    [
        ("weighted", 3, [3, 2, 1]),
        ("weighted", 5, [5, 4, 3, 2, 1]),
        ("weighted", 1, [1]),
        ("irv", 3, None),
        ("schulze", 3, None),
    ],
)
def test_point_table(method: str, n: int, table: list[int] | None) -> None:
    assert receipts.point_table(method, n) == table


@pytest.mark.parametrize(
    ("quorum", "eligible", "ballots", "met"),
    [
        (None, 0, 0, True),
        (None, 10, 0, True),
        (50, 0, 0, False),
        (50, 7, 3, False),
        (50, 7, 4, True),
        (75, 4, 3, True),
        (75, 3, 2, False),
        (100, 5, 5, True),
        (100, 5, 4, False),
        (1, 100, 1, True),
        (10, 5, 9, True),  # never more than every eligible voter
    ],
)
def test_quorum_met(quorum: int | None, eligible: int, ballots: int, met: bool) -> None:
    assert eligibility.quorum_met(quorum, eligible=eligible, ballots=ballots) is met
