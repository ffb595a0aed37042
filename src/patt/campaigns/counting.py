"""Counting methods (40 §6, §9.3, §9.4): weighted points, instant-runoff and Schulze for ranked
ballots; approval for approval campaigns.

Pure, deterministic functions — no database. The live application computes the weighted method
in SQL (`results`); these functions are its independent twin, used for IRV, Schulze and
approval, for `patt campaign recount`, and by the unit tests.

A *ballot* is the list of entry ids in rank order (rank 1 first). `entry_ids` lists every entry
of the campaign in display order (sort_order, then id); ties are listed in that order.
Every method returns one `RankedRow` per entry: `rank_counts` (picks per position 1..N for the
ranked methods; for approval the single number of approvals, as positions mean nothing there),
the method's primary number in `score` (points, final-round votes, entries beaten, approvals),
a competition `final_rank` (1, 1, 3) and method details (None for weighted).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The methods an officer chooses between for a ranked-choice campaign. Approval campaigns have
# exactly one method, `APPROVAL`, set from the campaign type (never chosen on its own).
METHODS = ("weighted", "irv", "schulze")
APPROVAL = "approval"
METHOD_LABELS = {
    "weighted": "Weighted points",
    "irv": "Instant-runoff",
    "schulze": "Schulze (Condorcet)",
    APPROVAL: "Approval",
}

Ballot = Sequence[int]


@dataclass
class RankedRow:
    """One entry's result under a counting method."""

    entry_id: int
    rank_counts: list[int]
    score: int
    final_rank: int
    details: dict[str, Any] | None = field(default=None)

    @property
    def first(self) -> int:
        return self.rank_counts[0] if len(self.rank_counts) > 0 else 0

    @property
    def second(self) -> int:
        return self.rank_counts[1] if len(self.rank_counts) > 1 else 0

    @property
    def third(self) -> int:
        return self.rank_counts[2] if len(self.rank_counts) > 2 else 0


# ------------------------------------------------------------------------- weighted (40 §6.1)
def points_for(rank: int, picks_per_voter: int) -> int:
    """Points of a pick at `rank`: N for 1st, N−1 for 2nd … 1 for last; 0 outside 1..N."""
    if 1 <= rank <= picks_per_voter:
        return picks_per_voter - rank + 1
    return 0


def compute_scores(
    votes: Iterable[Mapping[str, int]],
    picks_per_voter: int = 3,
    entry_ids: Iterable[int] | None = None,
) -> dict[int, dict[str, Any]]:
    """Per entry: first/second/third counts, `rank_counts` (1..N) and `weighted_score`.

    `votes` are `{entry_id, rank}` picks; ranks outside 1..N contribute nothing. Entries named in
    `entry_ids` appear even without votes; empty input and no `entry_ids` → `{}`.
    """
    n = picks_per_voter
    scores: dict[int, dict[str, Any]] = {}

    def row(entry_id: int) -> dict[str, Any]:
        if entry_id not in scores:
            scores[entry_id] = {
                "first": 0,
                "second": 0,
                "third": 0,
                "rank_counts": [0] * n,
                "weighted_score": 0,
            }
        return scores[entry_id]

    for entry_id in entry_ids or ():
        row(entry_id)
    for vote in votes:
        target = row(int(vote["entry_id"]))
        rank = int(vote["rank"])
        if not 1 <= rank <= n:
            continue
        target["rank_counts"][rank - 1] += 1
        target["weighted_score"] += points_for(rank, n)
    for values in scores.values():
        counts = values["rank_counts"]
        values["first"] = counts[0] if n > 0 else 0
        values["second"] = counts[1] if n > 1 else 0
        values["third"] = counts[2] if n > 2 else 0
    return scores


def _competition_ranks(keys: list[Any]) -> list[int]:
    """1, 1, 3 ranking of an already sorted list of comparison keys."""
    ranks: list[int] = []
    for index, key in enumerate(keys):
        if index and key == keys[index - 1]:
            ranks.append(ranks[-1])
        else:
            ranks.append(index + 1)
    return ranks


def rank_results(
    scores: Mapping[int, Mapping[str, Any]], order: Mapping[int, int] | None = None
) -> list[tuple[int, Mapping[str, Any], int]]:
    """Order by score, then rank counts position by position; equal entries share a rank.

    Within a tie entries are listed by `order` (entry id → display position), then id.
    """
    position = order or {}

    def strength(entry_id: int) -> tuple[int, tuple[int, ...]]:
        values = scores[entry_id]
        return (-int(values["weighted_score"]), tuple(-c for c in values["rank_counts"]))

    ordered = sorted(scores, key=lambda e: (strength(e), position.get(e, len(position)), e))
    ranks = _competition_ranks([strength(e) for e in ordered])
    return [(e, scores[e], r) for e, r in zip(ordered, ranks, strict=True)]


def _ballot_votes(ballots: Iterable[Ballot]) -> list[dict[str, int]]:
    return [
        {"entry_id": entry_id, "rank": index + 1}
        for ballot in ballots
        for index, entry_id in enumerate(ballot)
    ]


def weighted(
    ballots: Sequence[Ballot], entry_ids: Sequence[int], picks_per_voter: int
) -> list[RankedRow]:
    """The weighted method of 40 §6.1–6.2 over whole ballots."""
    known = set(entry_ids)
    votes = [v for v in _ballot_votes(ballots) if v["entry_id"] in known]
    scores = compute_scores(votes, picks_per_voter, entry_ids)
    order = {entry_id: index for index, entry_id in enumerate(entry_ids)}
    return [
        RankedRow(entry_id, list(values["rank_counts"]), int(values["weighted_score"]), rank)
        for entry_id, values, rank in rank_results(scores, order)
    ]


def _rank_counts(
    ballots: Sequence[Ballot], entry_ids: Sequence[int], picks_per_voter: int
) -> dict[int, list[int]]:
    counts = {entry_id: [0] * picks_per_voter for entry_id in entry_ids}
    for ballot in ballots:
        for index, entry_id in enumerate(ballot[:picks_per_voter]):
            if entry_id in counts:
                counts[entry_id][index] += 1
    return counts


def _clean(ballots: Sequence[Ballot], entry_ids: Sequence[int]) -> list[tuple[int, ...]]:
    """Ballots restricted to known entries, first occurrence of each entry only."""
    known = set(entry_ids)
    cleaned: list[tuple[int, ...]] = []
    for ballot in ballots:
        seen: list[int] = []
        for entry_id in ballot:
            if entry_id in known and entry_id not in seen:
                seen.append(entry_id)
        cleaned.append(tuple(seen))
    return cleaned


# ------------------------------------------------------------------ instant-runoff (40 §9.3)
def instant_runoff(
    ballots: Sequence[Ballot], entry_ids: Sequence[int], picks_per_voter: int, *, seed: int
) -> list[RankedRow]:
    """IRV with truncated ballots; runner-up places by continuing the elimination.

    Each round every ballot counts for its highest-ranked continuing entry (a ballot with none
    left is *exhausted*). An entry with more than half of the non-exhausted ballots wins. The
    entry with the fewest votes is eliminated; ties go to fewer round-one votes, then lower
    weighted score, then a draw from `random.Random(seed)` (the campaign id), recorded in the
    round. Counting continues after the winner is known only to order the other entries, so the
    ranking is: winner, then entries in reverse elimination order. `score` is the entry's votes
    in the last round it took part in. With no ballots every entry ties at rank 1.
    """
    cleaned = _clean(ballots, entry_ids)
    counts = _rank_counts(cleaned, entry_ids, picks_per_voter)
    order = {entry_id: index for index, entry_id in enumerate(entry_ids)}
    if not cleaned or not entry_ids:
        summary: dict[str, Any] = {"rounds": [], "winner": None, "decided_round": None}
        return [
            RankedRow(
                e,
                counts[e],
                0,
                1,
                {
                    "method": "irv",
                    "votes_by_round": [],
                    "eliminated_in_round": None,
                    "summary": summary,
                },
            )
            for e in entry_ids
        ]

    grouped = Counter(cleaned)
    weighted_scores = {
        row.entry_id: row.score for row in weighted(cleaned, entry_ids, picks_per_voter)
    }
    draw = random.Random(seed)
    continuing = list(entry_ids)
    votes_by_round: dict[int, list[int]] = {e: [] for e in entry_ids}
    eliminated_in: dict[int, int] = {}
    elimination_order: list[int] = []
    rounds: list[dict[str, Any]] = []
    round_one: dict[int, int] = {}
    winner: int | None = None
    decided_round: int | None = None

    round_number = 0
    while not (winner is not None and len(continuing) == 1):
        round_number += 1
        alive = set(continuing)
        tallies = dict.fromkeys(continuing, 0)
        exhausted = 0
        for ballot, how_many in grouped.items():
            choice = next((e for e in ballot if e in alive), None)
            if choice is None:
                exhausted += how_many
            else:
                tallies[choice] += how_many
        if round_number == 1:
            round_one = dict(tallies)
        for entry_id, votes in tallies.items():
            votes_by_round[entry_id].append(votes)
        active = sum(tallies.values())
        record: dict[str, Any] = {
            "round": round_number,
            "continuing": len(continuing),
            "active_ballots": active,
            "exhausted": exhausted,
            "eliminated": None,
            "tiebreak": None,
            "winner": None,
        }
        rounds.append(record)
        if winner is None:
            leader = max(continuing, key=lambda e: (tallies[e], -order[e]))
            if 2 * tallies[leader] > active or len(continuing) == 1:
                winner, decided_round = leader, round_number
                record["winner"] = leader
        if len(continuing) == 1:
            break
        fewest = min(tallies.values())
        tied = [e for e in continuing if tallies[e] == fewest]
        loser, tiebreak = _elimination_choice(tied, round_one, weighted_scores, draw, seed)
        record["eliminated"] = loser
        record["tiebreak"] = tiebreak
        continuing.remove(loser)
        eliminated_in[loser] = round_number
        elimination_order.append(loser)

    ranking = [continuing[0], *reversed(elimination_order)]
    summary = {"rounds": rounds, "winner": winner, "decided_round": decided_round}
    rows = []
    for place, entry_id in enumerate(ranking, start=1):
        history = votes_by_round[entry_id]
        rows.append(
            RankedRow(
                entry_id,
                counts[entry_id],
                history[-1] if history else 0,
                place,
                {
                    "method": "irv",
                    "votes_by_round": history,
                    "eliminated_in_round": eliminated_in.get(entry_id),
                    "summary": summary,
                },
            )
        )
    return rows


def _elimination_choice(
    tied: list[int],
    round_one: Mapping[int, int],
    weighted_scores: Mapping[int, int],
    draw: random.Random,
    seed: int,
) -> tuple[int, dict[str, Any] | None]:
    if len(tied) == 1:
        return tied[0], None
    fewest_first = min(round_one.get(e, 0) for e in tied)
    by_first = [e for e in tied if round_one.get(e, 0) == fewest_first]
    if len(by_first) == 1:
        return by_first[0], {"tied": sorted(tied), "rule": "round_one_votes"}
    lowest = min(weighted_scores.get(e, 0) for e in by_first)
    by_score = [e for e in by_first if weighted_scores.get(e, 0) == lowest]
    if len(by_score) == 1:
        return by_score[0], {"tied": sorted(tied), "rule": "weighted_score"}
    candidates = sorted(by_score)
    return draw.choice(candidates), {"tied": candidates, "rule": "draw", "seed": seed}


# ------------------------------------------------------------------------- Schulze (40 §9.3)
def schulze(
    ballots: Sequence[Ballot], entry_ids: Sequence[int], picks_per_voter: int
) -> list[RankedRow]:
    """Schulze: pairwise preferences, strongest paths, order by number of entries beaten.

    `d[X][Y]` counts ballots ranking X above Y; a ranked entry beats every entry the ballot
    leaves unranked, unranked entries are mutually tied. Strongest paths use the Floyd–Warshall
    variant; X beats Y when `p[X][Y] > p[Y][X]`. `score` is the number of entries beaten; equal
    numbers share a rank.
    """
    cleaned = _clean(ballots, entry_ids)
    counts = _rank_counts(cleaned, entry_ids, picks_per_voter)
    ids = list(entry_ids)
    index = {e: i for i, e in enumerate(ids)}
    size = len(ids)
    # d[x][y] = (#ballots ranking x) − (#ballots ranking both, y before x)
    ranked = [0] * size
    before = [[0] * size for _ in range(size)]
    for ballot, how_many in Counter(cleaned).items():
        for position, entry_id in enumerate(ballot):
            x = index[entry_id]
            ranked[x] += how_many
            for earlier in ballot[:position]:
                before[x][index[earlier]] += how_many
    d = [[0 if x == y else ranked[x] - before[x][y] for y in range(size)] for x in range(size)]
    p = [[d[x][y] if x != y and d[x][y] > d[y][x] else 0 for y in range(size)] for x in range(size)]
    for i in range(size):
        for j in range(size):
            if i == j:
                continue
            for k in range(size):
                if k in (i, j):
                    continue
                p[j][k] = max(p[j][k], min(p[j][i], p[i][k]))
    wins = {
        ids[x]: [ids[y] for y in range(size) if y != x and p[x][y] > p[y][x]] for x in range(size)
    }
    ordered = sorted(ids, key=lambda e: (-len(wins[e]), index[e]))
    ranks = _competition_ranks([-len(wins[e]) for e in ordered])
    return [
        RankedRow(
            entry_id,
            counts[entry_id],
            len(wins[entry_id]),
            rank,
            {
                "method": "schulze",
                "beats": wins[entry_id],
                "pairwise": {
                    str(ids[y]): d[index[entry_id]][y] for y in range(size) if ids[y] != entry_id
                },
                "strongest_paths": {
                    str(ids[y]): p[index[entry_id]][y] for y in range(size) if ids[y] != entry_id
                },
            },
        )
        for entry_id, rank in zip(ordered, ranks, strict=True)
    ]


# ------------------------------------------------------------------------ approval (40 §9.4)
def approval(
    ballots: Sequence[Ballot], entry_ids: Sequence[int], picks_per_voter: int
) -> list[RankedRow]:
    """Approval: every entry a ballot picks gets one approval; most approvals ranks first.

    Picks are unordered (their stored ranks only record submission order), so there is no
    positional tiebreak: entries with equal approvals share a rank (1, 1, 3), listed in entry
    order. `rank_counts` is `[approvals]`, so `first_place_count` holds the approvals too.
    Only a ballot's first `picks_per_voter` known, distinct entries count (casting never stores
    more; a ballot edited by hand must not weigh more than one voter). `details` records the
    number of ballots, so "X approvals (Y% of ballots)" can be shown from the row alone.
    """
    approvals = dict.fromkeys(entry_ids, 0)
    cleaned = _clean(ballots, entry_ids)
    for ballot in cleaned:
        for entry_id in ballot[:picks_per_voter]:
            approvals[entry_id] += 1
    order = {entry_id: index for index, entry_id in enumerate(entry_ids)}
    ordered = sorted(entry_ids, key=lambda e: (-approvals[e], order[e]))
    ranks = _competition_ranks([-approvals[e] for e in ordered])
    details = {"method": APPROVAL, "ballots": len(cleaned)}
    return [
        RankedRow(entry_id, [approvals[entry_id]], approvals[entry_id], rank, dict(details))
        for entry_id, rank in zip(ordered, ranks, strict=True)
    ]


def approval_share(approvals: int, ballots: int) -> float:
    """Approvals as a percentage of the ballots, one decimal (0.0 with no ballots)."""
    return round(100 * approvals / ballots, 1) if ballots else 0.0


# --------------------------------------------------------------------------------- dispatch
def count(
    method: str,
    ballots: Sequence[Ballot],
    entry_ids: Sequence[int],
    picks_per_voter: int,
    *,
    seed: int,
) -> list[RankedRow]:
    """Run the named method (`weighted`, `irv`, `schulze`, `approval`)."""
    if method == APPROVAL:
        return approval(ballots, entry_ids, picks_per_voter)
    if method == "irv":
        return instant_runoff(ballots, entry_ids, picks_per_voter, seed=seed)
    if method == "schulze":
        return schulze(ballots, entry_ids, picks_per_voter)
    if method == "weighted":
        return weighted(ballots, entry_ids, picks_per_voter)
    raise ValueError(f"unknown counting method {method!r}")
