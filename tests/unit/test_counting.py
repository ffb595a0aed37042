"""Counting methods (40 §6, §9.3): weighted points and tiebreaks, instant-runoff, Schulze."""

from __future__ import annotations

import random

import pytest

from patt.campaigns import counting
from patt.campaigns import results as campaign_results
from patt.campaigns.counting import (
    compute_scores,
    instant_runoff,
    rank_results,
    schulze,
    weighted,
)

DRAGON, PHOENIX, GRYPHON, WYVERN = 1, 2, 3, 4


def ranks_of(rows: list[counting.RankedRow]) -> dict[int, int]:
    return {row.entry_id: row.final_rank for row in rows}


def order_of(rows: list[counting.RankedRow]) -> list[int]:
    return [row.entry_id for row in rows]


# ----------------------------------------------------------------------------- weighted
def test_points_are_three_two_one_for_three_picks() -> None:
    scores = compute_scores(
        [
            {"entry_id": DRAGON, "rank": 1},
            {"entry_id": PHOENIX, "rank": 2},
            {"entry_id": GRYPHON, "rank": 3},
        ],
        3,
    )
    assert {e: s["weighted_score"] for e, s in scores.items()} == {
        DRAGON: 3,
        PHOENIX: 2,
        GRYPHON: 1,
    }
    assert scores[DRAGON]["first"] == 1 and scores[PHOENIX]["second"] == 1
    assert scores[GRYPHON]["rank_counts"] == [0, 0, 1]


def test_empty_input_gives_empty_scores() -> None:
    assert compute_scores([], 3) == {}
    assert rank_results({}) == []


def test_five_picks_use_five_to_one_points() -> None:
    votes = [{"entry_id": e, "rank": r} for r, e in enumerate([5, 4, 3, 2, 1], start=1)]
    scores = compute_scores(votes, 5)
    assert [scores[e]["weighted_score"] for e in (5, 4, 3, 2, 1)] == [5, 4, 3, 2, 1]
    assert scores[2]["rank_counts"] == [0, 0, 0, 1, 0]


def test_picks_beyond_n_contribute_nothing() -> None:
    scores = compute_scores([{"entry_id": DRAGON, "rank": 4}, {"entry_id": DRAGON, "rank": 0}], 3)
    assert scores[DRAGON]["weighted_score"] == 0
    assert scores[DRAGON]["rank_counts"] == [0, 0, 0]


def test_spec_worked_example_ties_share_rank_two() -> None:
    ballots = [[DRAGON, PHOENIX, GRYPHON], [DRAGON, GRYPHON, PHOENIX]]
    rows = weighted(ballots, [DRAGON, PHOENIX, GRYPHON], 3)
    assert [(r.entry_id, r.score, r.final_rank) for r in rows] == [
        (DRAGON, 6, 1),
        (PHOENIX, 3, 2),
        (GRYPHON, 3, 2),
    ]


def test_vote_service_compute_scores_is_the_spec_entry_point() -> None:

    votes = [
        {"entry_id": DRAGON, "rank": 1},
        {"entry_id": PHOENIX, "rank": 2},
        {"entry_id": GRYPHON, "rank": 3},
        {"entry_id": DRAGON, "rank": 1},
        {"entry_id": GRYPHON, "rank": 2},
        {"entry_id": PHOENIX, "rank": 3},
        {"entry_id": WYVERN, "rank": 4},  # outside 1..N: nothing
    ]
    scores = campaign_results.compute_scores(votes)  # picks_per_voter defaults to 3
    assert scores == compute_scores(votes, 3)
    assert scores[DRAGON] == {
        "first": 2,
        "second": 0,
        "third": 0,
        "rank_counts": [2, 0, 0],
        "weighted_score": 6,
    }
    assert scores[WYVERN]["weighted_score"] == 0
    assert campaign_results.compute_scores([]) == {}


def test_vote_service_rank_results_is_the_spec_entry_point() -> None:

    ballots = [[DRAGON, PHOENIX, GRYPHON], [DRAGON, GRYPHON, PHOENIX]]
    votes = [{"entry_id": e, "rank": r} for b in ballots for r, e in enumerate(b, start=1)]
    ranked = campaign_results.rank_results(campaign_results.compute_scores(votes, 3))
    assert [(e, s["weighted_score"], r) for e, s, r in ranked] == [
        (DRAGON, 6, 1),
        (PHOENIX, 3, 2),
        (GRYPHON, 3, 2),
    ]
    assert campaign_results.rank_results({}) == []


def test_tiebreak_prefers_more_first_place_picks() -> None:
    # Phoenix 3+1 = 4 (one first); Gryphon 2+2 = 4 (no first) → Phoenix above Gryphon
    ballots = [[PHOENIX, DRAGON, WYVERN], [DRAGON, GRYPHON, PHOENIX], [DRAGON, GRYPHON, WYVERN]]
    rows = weighted(ballots, [DRAGON, PHOENIX, GRYPHON, WYVERN], 3)
    ranks = ranks_of(rows)
    scores = {r.entry_id: r.score for r in rows}
    assert scores[PHOENIX] == scores[GRYPHON] == 4
    assert ranks[PHOENIX] < ranks[GRYPHON]


def test_tiebreak_goes_deeper_than_first_place() -> None:
    # equal score 3 and equal firsts (0): Phoenix has a second, Gryphon only thirds → Phoenix
    scores = {
        PHOENIX: {"weighted_score": 3, "rank_counts": [0, 1, 1]},
        GRYPHON: {"weighted_score": 3, "rank_counts": [0, 0, 3]},
    }
    assert [(e, r) for e, _, r in rank_results(scores)] == [(PHOENIX, 1), (GRYPHON, 2)]


def test_full_tie_shares_rank_listed_by_display_order() -> None:
    scores = {
        GRYPHON: {"weighted_score": 3, "rank_counts": [1, 0, 0]},
        DRAGON: {"weighted_score": 3, "rank_counts": [1, 0, 0]},
        PHOENIX: {"weighted_score": 1, "rank_counts": [0, 0, 1]},
    }
    ranked = rank_results(scores, {GRYPHON: 0, DRAGON: 1, PHOENIX: 2})
    assert [(e, r) for e, _, r in ranked] == [(GRYPHON, 1), (DRAGON, 1), (PHOENIX, 3)]


def test_zero_vote_entries_are_listed_last_with_zeros() -> None:
    rows = weighted([[DRAGON]], [WYVERN, DRAGON], 1)
    assert order_of(rows) == [DRAGON, WYVERN]
    assert rows[1].score == 0 and rows[1].rank_counts == [0] and rows[1].final_rank == 2


def test_single_voter_ranks_in_ballot_order() -> None:
    rows = weighted([[GRYPHON, DRAGON, PHOENIX]], [DRAGON, PHOENIX, GRYPHON], 3)
    assert order_of(rows) == [GRYPHON, DRAGON, PHOENIX]
    assert [r.final_rank for r in rows] == [1, 2, 3]


# -------------------------------------------------------------------------- instant-runoff
def test_irv_majority_in_first_round() -> None:
    ballots = [[DRAGON, PHOENIX]] * 3 + [[PHOENIX, DRAGON]] * 2
    rows = instant_runoff(ballots, [DRAGON, PHOENIX, GRYPHON], 2, seed=1)
    assert rows[0].entry_id == DRAGON and rows[0].final_rank == 1
    summary = rows[0].details["summary"]
    assert summary["winner"] == DRAGON and summary["decided_round"] == 1


def test_irv_transfers_change_the_winner_compared_with_plurality() -> None:
    # First choices: Dragon 4, Phoenix 3, Gryphon 2 → Gryphon out, its ballots go to Phoenix
    ballots = [[DRAGON, GRYPHON]] * 4 + [[PHOENIX, DRAGON]] * 3 + [[GRYPHON, PHOENIX]] * 2
    rows = instant_runoff(ballots, [DRAGON, PHOENIX, GRYPHON], 2, seed=7)
    assert order_of(rows) == [PHOENIX, DRAGON, GRYPHON]
    assert [r.final_rank for r in rows] == [1, 2, 3]
    rounds = rows[0].details["summary"]["rounds"]
    assert rounds[0]["eliminated"] == GRYPHON
    assert rows[0].details["votes_by_round"] == [3, 5]
    assert rows[0].score == 5  # final-round votes


def test_irv_reports_exhausted_ballots_per_round() -> None:
    # Truncated ballots: the two Gryphon-only ballots exhaust once Gryphon is eliminated
    ballots = [[DRAGON]] * 3 + [[PHOENIX]] * 3 + [[GRYPHON]] * 2 + [[WYVERN, DRAGON]]
    rows = instant_runoff(ballots, [DRAGON, PHOENIX, GRYPHON, WYVERN], 2, seed=3)
    rounds = rows[0].details["summary"]["rounds"]
    assert [r["exhausted"] for r in rounds] == [0, 0, 2]
    assert rounds[0]["eliminated"] == WYVERN
    assert rounds[1]["eliminated"] == GRYPHON
    assert rows[0].entry_id == DRAGON  # 4 of the 7 continuing ballots


def test_irv_elimination_tie_uses_round_one_votes_then_weighted_score() -> None:
    # Round 1: Dragon 2, Phoenix 1, Gryphon 1 → tie Phoenix/Gryphon on round-one votes (equal),
    # weighted score: Phoenix has a second-place pick, Gryphon none → Gryphon eliminated
    ballots = [[DRAGON, PHOENIX], [DRAGON, WYVERN], [PHOENIX, WYVERN], [GRYPHON, WYVERN]]
    rows = instant_runoff(ballots, [DRAGON, PHOENIX, GRYPHON, WYVERN], 2, seed=5)
    first_round = rows[0].details["summary"]["rounds"][0]
    assert first_round["eliminated"] == WYVERN  # zero first choices
    second = rows[0].details["summary"]["rounds"][1]
    assert second["eliminated"] == GRYPHON
    assert second["tiebreak"]["rule"] == "weighted_score"


def test_irv_draw_is_deterministic_per_campaign_and_recorded() -> None:
    ballots = [[DRAGON], [PHOENIX]]
    first = instant_runoff(ballots, [DRAGON, PHOENIX], 1, seed=42)
    again = instant_runoff(ballots, [DRAGON, PHOENIX], 1, seed=42)
    assert order_of(first) == order_of(again)
    tiebreak = first[0].details["summary"]["rounds"][0]["tiebreak"]
    assert tiebreak == {"tied": [DRAGON, PHOENIX], "rule": "draw", "seed": 42}


def test_irv_single_voter_and_no_ballots() -> None:
    rows = instant_runoff([[PHOENIX, DRAGON, GRYPHON]], [DRAGON, PHOENIX, GRYPHON], 3, seed=1)
    assert rows[0].entry_id == PHOENIX
    empty = instant_runoff([], [DRAGON, PHOENIX], 3, seed=1)
    assert [r.final_rank for r in empty] == [1, 1]
    assert empty[0].details["summary"]["rounds"] == []


# --------------------------------------------------------------------------------- Schulze
def _wikipedia_example() -> tuple[list[list[int]], list[int]]:
    """The 45-voter example of the Schulze method article (A..E → 1..5); winner E, order EACBD."""
    a, b, c, d, e = 1, 2, 3, 4, 5
    groups = [
        (5, [a, c, b, e, d]),
        (5, [a, d, e, c, b]),
        (8, [b, e, d, a, c]),
        (3, [c, a, b, e, d]),
        (7, [c, a, e, b, d]),
        (2, [c, b, a, d, e]),
        (7, [d, c, e, b, a]),
        (8, [e, b, a, d, c]),
    ]
    ballots = [list(order) for count, order in groups for _ in range(count)]
    return ballots, [a, b, c, d, e]


def test_schulze_published_example() -> None:
    ballots, entries = _wikipedia_example()
    rows = schulze(ballots, entries, 5)
    assert order_of(rows) == [5, 1, 3, 2, 4]  # E > A > C > B > D
    assert [r.final_rank for r in rows] == [1, 2, 3, 4, 5]
    e_row = rows[0]
    assert e_row.details["pairwise"]["1"] == 23  # d[E][A] = 45 − d[A][E] (22)
    assert e_row.details["strongest_paths"]["1"] == 25  # E→D→A


def test_schulze_unranked_entries_lose_to_ranked_and_tie_among_themselves() -> None:
    rows = schulze([[DRAGON]], [DRAGON, PHOENIX, GRYPHON], 1)
    assert rows[0].entry_id == DRAGON and rows[0].score == 2
    assert [r.final_rank for r in rows[1:]] == [2, 2]


# ----------------------------------------------------------------------- cross-checks
@pytest.mark.parametrize("method", counting.METHODS)
def test_unanimous_first_choice_wins_under_every_method(method: str) -> None:
    rng = random.Random(11)
    entries = [10, 11, 12, 13, 14]
    ballots = []
    for _ in range(25):
        rest = entries[1:]
        rng.shuffle(rest)
        ballots.append([entries[2], *[e for e in rest if e != entries[2]][:2]])
    rows = counting.count(method, ballots, entries, 3, seed=9)
    assert rows[0].entry_id == entries[2]
    assert rows[0].final_rank == 1
    assert sum(1 for r in rows if r.final_rank == 1) == 1


@pytest.mark.parametrize("seed", range(20))
def test_condorcet_winner_is_first_under_schulze_random_profiles(seed: int) -> None:
    rng = random.Random(seed)
    entries = [1, 2, 3, 4]
    ballots = [rng.sample(entries, rng.randint(1, 4)) for _ in range(rng.randint(1, 30))]
    rows = schulze(ballots, entries, 4)

    def prefers(x: int, y: int) -> int:
        total = 0
        for ballot in ballots:
            if x in ballot and (y not in ballot or ballot.index(x) < ballot.index(y)):
                total += 1
        return total

    condorcet = [
        x for x in entries if all(prefers(x, y) > prefers(y, x) for y in entries if y != x)
    ]
    if condorcet:
        assert rows[0].entry_id == condorcet[0]
        assert sum(1 for r in rows if r.final_rank == 1) == 1


@pytest.mark.parametrize("seed", range(20))
def test_every_method_returns_every_entry_once(seed: int) -> None:
    rng = random.Random(seed)
    entries = list(range(1, rng.randint(2, 8)))
    ballots = [rng.sample(entries, min(3, len(entries))) for _ in range(rng.randint(0, 25))]
    for method in counting.METHODS:
        rows = counting.count(method, ballots, entries, 3, seed=seed)
        assert sorted(order_of(rows)) == sorted(entries)
        assert rows[0].final_rank == 1
        assert all(a.final_rank <= b.final_rank for a, b in zip(rows, rows[1:], strict=False))
