"""Approval counting (40 §9.4): one approval per pick, ties share a rank, unordered ballots."""

from __future__ import annotations

import random

from patt.campaigns import counting, receipts
from patt.campaigns.counting import approval, approval_share

DRAGON, PHOENIX, GRYPHON, WYVERN = 1, 2, 3, 4
ENTRIES = [DRAGON, PHOENIX, GRYPHON, WYVERN]


def table(rows: list[counting.RankedRow]) -> list[tuple[int, int, int]]:
    """(entry, approvals, final rank) in result order."""
    return [(row.entry_id, row.score, row.final_rank) for row in rows]


def test_each_pick_is_one_approval_whatever_its_position() -> None:
    rows = approval([[DRAGON, PHOENIX], [PHOENIX], [GRYPHON, PHOENIX, DRAGON]], ENTRIES, 3)
    assert table(rows) == [(PHOENIX, 3, 1), (DRAGON, 2, 2), (GRYPHON, 1, 3), (WYVERN, 0, 4)]
    phoenix = rows[0]
    assert phoenix.rank_counts == [3] and phoenix.first == 3
    assert phoenix.second == 0 and phoenix.third == 0
    assert phoenix.details == {"method": "approval", "ballots": 3}


def test_ties_share_a_rank_and_keep_entry_order() -> None:
    rows = approval([[GRYPHON, DRAGON], [WYVERN]], ENTRIES, 3)
    assert table(rows) == [(DRAGON, 1, 1), (GRYPHON, 1, 1), (WYVERN, 1, 1), (PHOENIX, 0, 4)]


def test_no_positional_tiebreak_between_equal_entries() -> None:
    # weighted would put Dragon first (picked first); approval sees one approval each
    rows = approval([[DRAGON, PHOENIX]], [DRAGON, PHOENIX], 2)
    assert table(rows) == [(DRAGON, 1, 1), (PHOENIX, 1, 1)]
    assert table(approval([[PHOENIX, DRAGON]], [DRAGON, PHOENIX], 2)) == table(rows)


def test_no_ballots_ties_every_entry_at_zero() -> None:
    rows = approval([], ENTRIES, 3)
    assert table(rows) == [(e, 0, 1) for e in ENTRIES]
    assert rows[0].details == {"method": "approval", "ballots": 0}
    assert approval([], [], 3) == []


def test_unknown_entries_duplicates_and_extra_picks_count_nothing() -> None:
    # ballots edited by hand: an unknown entry, an entry twice, more picks than allowed
    rows = approval([[DRAGON, 99, DRAGON], [PHOENIX, GRYPHON, WYVERN]], ENTRIES, 2)
    assert {row.entry_id: row.score for row in rows} == {
        DRAGON: 1,
        PHOENIX: 1,
        GRYPHON: 1,
        WYVERN: 0,
    }


def test_order_of_ballots_and_picks_does_not_matter() -> None:
    ballots = [[DRAGON, GRYPHON], [PHOENIX], [GRYPHON, WYVERN, PHOENIX], [GRYPHON]]
    expected = table(approval(ballots, ENTRIES, 3))
    shuffler = random.Random(7)
    for _ in range(20):
        mixed = [shuffler.sample(b, len(b)) for b in ballots]
        shuffler.shuffle(mixed)
        assert table(approval(mixed, ENTRIES, 3)) == expected


def test_dispatch_share_and_point_table() -> None:
    ballots = [[DRAGON], [DRAGON, PHOENIX], [GRYPHON]]
    assert table(counting.count("approval", ballots, ENTRIES, 3, seed=1)) == table(
        approval(ballots, ENTRIES, 3)
    )
    assert counting.METHOD_LABELS["approval"] == "Approval"
    assert "approval" not in counting.METHODS  # not a method ranked campaigns can choose
    assert approval_share(2, 3) == 66.7 and approval_share(0, 0) == 0.0
    assert approval_share(3, 3) == 100.0
    assert receipts.point_table("approval", 3) is None
