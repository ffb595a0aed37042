"""The campaign page `/vote/{id}` (50 §5): coming soon, vote form, gallery, standings, results.

GET reconciles the campaign with the clock, applies the view rule (anonymous → login, low
rank → 403 page) and picks one state: `upcoming`, `can_vote`, `voted`, `view_only`, `public`,
`closed`. POST casts a ballot through the same vote service as the API and answers
POST → 302 → GET with a flash (wrong pick count: "Please select exactly N picks.").

Choices where the spec is silent:
- A missing or expired CSRF token on the vote form is the 403 page, as on every other form.
- The vote-form error is shown in `#vote-error` above the grid instead of the page flash bar.
- Instructions name the counting method; IRV and Schulze results explain the count (rounds,
  pairwise table) under the results list.
- Approval campaigns: cards toggle a check mark (no order); the form posts the same
  `pick_entry_i` fields, filled in click order; results read "X approvals (Y% of ballots)".
- After a vote the flash shows the ballot's receipt once; the "Your Picks" card keeps showing
  it. Campaigns that allow vote changes offer "Change my vote" (`?change=1`) until close.
- Closed campaigns show the audit snapshot and how to verify it; `/vote/{id}/ballots` is the
  published ballot list with a receipt lookup. A campaign below its quorum shows "No result".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from patt.campaigns import audit, counting, eligibility, receipts, serving, voting
from patt.campaigns import checker as campaign_checker
from patt.campaigns import results as campaign_results
from patt.campaigns import rules as campaign_rules
from patt.campaigns.lookup import campaign_or_404
from patt.campaigns.schemas import INT32_MAX, PICKS_MESSAGE
from patt.core.fields import IdPath
from patt.core.forms import gated_form
from patt.core.render import (
    LoginRequired,
    PageError,
    read_flash,
    redirect_with_flash,
    render,
)
from patt.deps import PageMember, PagePrincipal
from sv_common.db.engine import transaction
from sv_common.db.enums import CampaignType
from sv_common.db.models import Campaign
from sv_common.errors import DomainError

router = APIRouter(include_in_schema=False)
CampaignPathId = IdPath
MAX_FORM_PICKS = 10
ORDINALS = {1: "1st", 2: "2nd", 3: "3rd"}
POSITION_WORDS = {1: "first", 2: "second", 3: "third"}
SCORE_UNITS = {"weighted": "pts", "irv": "votes", "schulze": "wins", "approval": "approvals"}


class PickField:
    """One pick parsed from the vote form."""

    def __init__(self, entry_id: int, rank: int) -> None:
        self.entry_id = entry_id
        self.rank = rank


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th …"""
    return ORDINALS.get(n, f"{n}th")


def long_time(value: datetime) -> str:
    """ "March 01, 2026 at 18:00 UTC"."""
    return value.strftime("%B %d, %Y at %H:%M UTC")


def is_approval(campaign: Campaign) -> bool:
    """True for an approval campaign (unordered picks, one approval each)."""
    return campaign.type == CampaignType.APPROVAL


def instructions(campaign: Campaign) -> str:
    """How to pick and how the picks count (50 §5.2, method named per 40 §9.3)."""
    n = campaign.picks_per_voter
    if is_approval(campaign):
        limit = "1 entry" if n == 1 else f"up to {n} entries"
        return (
            f"Pick {limit} you approve of: click an image to tick it, click again to untick. "
            "Each pick is one approval and the order doesn't matter; the entry with the most "
            "approvals wins."
        )
    choices = "choice" if n == 1 else f"top {n} choices"
    head = f"Click images to rank your {choices}. Click again to deselect."
    if campaign.counting_method == "irv":
        return (
            f"{head} Counted by instant-runoff: your ballot counts for your highest-ranked "
            "choice still in the running; the entry with the fewest votes is eliminated round by "
            "round until one has more than half."
        )
    if campaign.counting_method == "schulze":
        return (
            f"{head} Counted by the Schulze method: every pair of entries is compared, and an "
            "entry you rank beats every entry you rank lower or leave out."
        )
    if n == 1:
        return f"{head} Your choice gets 1 point."
    if n == 2:
        return f"{head} Your 1st choice gets 2 points, 2nd gets 1."
    return f"{head} Your 1st choice gets {n} points, 2nd gets {n - 1} … last gets 1."


def breakdown(rank_counts: list[int]) -> str:
    """ "A first • B second • C third" (further positions appended)."""
    parts = []
    for position, number in enumerate(rank_counts, start=1):
        word = POSITION_WORDS.get(position, ordinal(position))
        parts.append(f"{number} {word}")
    return " • ".join(parts)


def approval_text(row: dict[str, Any]) -> str:
    """ "X approvals (Y% of ballots)" from an approval result row."""
    details = row.get("method_details") or {}
    ballots = int(details.get("ballots", 0)) if isinstance(details, dict) else 0
    approvals = int(row["weighted_score"])
    noun = "approval" if approvals == 1 else "approvals"
    share = counting.approval_share(approvals, ballots)
    return f"{approvals} {noun} ({share:g}% of ballots)"


def result_items(rows: list[dict[str, Any]], *, closed: bool) -> list[dict[str, Any]]:
    """Result rows plus what the results list shows (bar width, breakdown, winner flag)."""
    top = max((row["weighted_score"] for row in rows), default=0) or 1
    items = []
    for row in rows:
        width = max(2.0, round(100 * row["weighted_score"] / top, 1))
        details = row.get("method_details")
        approval = isinstance(details, dict) and details.get("method") == counting.APPROVAL
        items.append(
            {
                **row,
                "bar_width": min(width, 100.0),
                "breakdown": approval_text(row) if approval else breakdown(row["rank_counts"]),
                "winner": closed and row["final_rank"] == 1,
            }
        )
    return items


def irv_explanation(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Round-by-round lines for an instant-runoff result (from `method_details`)."""
    if not rows or not isinstance(rows[0].get("method_details"), dict):
        return None
    details = rows[0]["method_details"]
    if details.get("method") != "irv":
        return None
    summary = details.get("summary") or {}
    names = {row["entry"]["id"]: row["entry"]["name"] for row in rows}
    history = {
        row["entry"]["id"]: (row.get("method_details") or {}).get("votes_by_round", [])
        for row in rows
    }
    decided = summary.get("decided_round")
    rounds = []
    for record in summary.get("rounds", []):
        index = record["round"] - 1
        tallies = sorted(
            ((history[e][index], names[e]) for e in history if index < len(history[e])),
            key=lambda pair: (-pair[0], pair[1]),
        )
        tiebreak = record.get("tiebreak")
        rule = (
            {
                "round_one_votes": "tie broken by fewer first-round votes",
                "weighted_score": "tie broken by lower weighted score",
                "draw": "tie broken by a draw seeded with the campaign id",
            }.get(tiebreak["rule"], "")
            if tiebreak
            else ""
        )
        rounds.append(
            {
                "number": record["round"],
                "tallies": tallies,
                "exhausted": record.get("exhausted", 0),
                "active": record.get("active_ballots", 0),
                "eliminated": names.get(record.get("eliminated")),
                "rule": rule,
                "winner": names.get(record.get("winner")),
                "after_decision": decided is not None and record["round"] > decided,
            }
        )
    return {"rounds": rounds, "winner": names.get(summary.get("winner")), "decided": decided}


def schulze_explanation(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Pairwise preference table for a Schulze result."""
    if not rows or not isinstance(rows[0].get("method_details"), dict):
        return None
    if rows[0]["method_details"].get("method") != "schulze":
        return None
    entries = [(row["entry"]["id"], row["entry"]["name"]) for row in rows]
    matrix = []
    for row in rows:
        pairwise = row["method_details"].get("pairwise", {})
        matrix.append(
            {
                "name": row["entry"]["name"],
                "cells": [
                    None if other == row["entry"]["id"] else pairwise.get(str(other), 0)
                    for other, _ in entries
                ],
                "beats": len(row["method_details"].get("beats", [])),
            }
        )
    return {"entries": entries, "matrix": matrix}


def _view_state(
    campaign: Campaign, member: campaign_rules.Viewer | None, voted: bool, refusal: str | None
) -> str:
    if campaign.status == "draft":
        return "upcoming"
    if campaign.status in ("closed", "archived"):
        return "closed"
    if voted:
        return "voted"
    if member is None:
        return "public"
    if refusal is None:
        return "can_vote"
    return "view_only"


@router.get("/vote/{campaign_id}")
async def vote_page(
    request: Request, campaign_id: CampaignPathId, member: PagePrincipal
) -> Response:
    """The campaign page in the state the viewer is in (an anonymous visit to a closed
    campaign is served from the page rendered once per campaign version, `serving`)."""
    await campaign_checker.reconcile(request.app.state.sessionmaker, campaign_id)
    if member is None:
        cached = await serving.public_closed_page(
            request, campaign_id, lambda: _vote_page(request, campaign_id, None)
        )
        if cached is not None:
            return cached
    return await _vote_page(request, campaign_id, member)


async def _vote_page(
    request: Request, campaign_id: int, member: campaign_rules.Viewer | None
) -> Response:
    """Render the campaign page from the database."""
    factory = request.app.state.sessionmaker
    async with transaction(factory) as db:
        campaign = await campaign_or_404(db, campaign_id)
        if not campaign_rules.can_view(campaign, campaign_rules.viewer_level(member)):
            if member is None:
                raise LoginRequired(f"/vote/{campaign.id}")
            raise PageError(403, "You don't have permission to view this campaign.")
        my_vote = (
            await voting.get_my_vote(db, campaign_id=campaign.id, member_id=member.id)
            if member is not None
            else None
        )
        refusal = (
            await eligibility.refusal(db, campaign, member)
            if member is not None and my_vote is None and campaign.status == "live"
            else None
        )
        state = _view_state(campaign, member, my_vote is not None, refusal)
        # a voter changing their ballot (campaigns that allow it) gets the vote form again
        changing = (
            state == "voted"
            and campaign.allow_vote_change
            and request.query_params.get("change") == "1"
        )
        if changing:
            state = "can_vote"
        rows: list[dict[str, Any]] = []
        stats: dict[str, Any] | None = None
        if state in ("voted", "closed"):
            rows = await campaign_results.get_results(db, campaign)
            # a closed campaign shows the turnout stored at close (immutable page)
            stats = await serving.closed_turnout(db, campaign)
            if stats is None:
                stats = await campaign_results.get_vote_stats(db, campaign)
    entries = {e.id: e for e in campaign.entries}
    my_picks = [
        {"rank": v["rank"], "entry": entries.get(v["entry_id"])}
        for v in (my_vote["votes"] if my_vote else [])
    ]
    flash = read_flash(request)
    vote_error = (
        flash["text"] if flash and flash["kind"] == "error" and state == "can_vote" else None
    )
    closed = state == "closed"
    audit_snapshot = audit.audit_of(campaign) if closed else None
    declared = audit_snapshot is None or audit_snapshot["result_declared"]
    items = result_items(rows, closed=closed and declared)
    context: dict[str, Any] = {
        "campaign": campaign,
        "state": state,
        "entries": list(campaign.entries) if state != "upcoming" else [],
        "end_at": campaign_rules.end_at(campaign),
        "start_text": long_time(campaign.start_at),
        "end_text": long_time(campaign_rules.end_at(campaign)),
        "instructions": instructions(campaign),
        "approval": is_approval(campaign),
        "method_label": counting.METHOD_LABELS.get(campaign.counting_method, "Weighted points"),
        "score_unit": SCORE_UNITS.get(campaign.counting_method, "pts"),
        "my_picks": my_picks,
        "results": items,
        "stats": stats,
        "has_ballots": bool(stats and stats["total_voted"]),
        "tie_for_first": closed and declared and sum(1 for i in items if i["final_rank"] == 1) >= 2,
        "receipt": my_vote["receipt"] if my_vote else None,
        "changing": changing,
        "can_change": campaign.allow_vote_change and campaign.status == "live",
        "picked": {v["entry_id"]: v["rank"] for v in my_vote["votes"]}
        if changing and my_vote
        else {},
        "audit": audit_snapshot,
        "declared": declared,
        "refusal": refusal,
        "irv": irv_explanation(rows) if stats and stats["total_voted"] else None,
        "schulze": schulze_explanation(rows) if stats and stats["total_voted"] else None,
        "ordinal": ordinal,
        "vote_error": vote_error,
        "active_nav": "vote",
    }
    if vote_error:
        context["flash"] = None  # shown in #vote-error instead of the page's flash bar
    return await render(request, "vote/vote.html", context, member=member)


def _form_picks(form: dict[str, str]) -> list[PickField]:
    """`pick_entry_i` / `pick_rank_i` (rank i+1 when absent); empty selections are skipped."""
    picks: list[PickField] = []
    for index in range(MAX_FORM_PICKS):
        raw_entry = form.get(f"pick_entry_{index}", "").strip()
        if not raw_entry:
            continue
        raw_rank = form.get(f"pick_rank_{index}", "").strip() or str(index + 1)
        if (
            not (
                raw_entry.isascii()
                and raw_entry.isdigit()
                and raw_rank.isascii()
                and raw_rank.isdigit()
            )
            or int(raw_entry) > INT32_MAX
            or int(raw_rank) > INT32_MAX
        ):
            raise ValueError(PICKS_MESSAGE)
        picks.append(PickField(int(raw_entry), int(raw_rank)))
    return picks


@router.post("/vote/{campaign_id}")
async def vote_submit(
    request: Request, campaign_id: CampaignPathId, member: PageMember
) -> Response:
    """Cast the ballot from the vote form; every outcome is a redirect with a flash."""
    member, form = await gated_form(request, member, min_level=1)
    factory = request.app.state.sessionmaker
    await campaign_checker.reconcile(factory, campaign_id)
    here = f"/vote/{campaign_id}"
    async with transaction(factory) as db:
        campaign = await campaign_or_404(db, campaign_id)
    try:
        picks = _form_picks(form)
    except ValueError as exc:
        return redirect_with_flash(request, here, "error", str(exc))
    changing = form.get("change") == "1"
    record = voting.change_vote if changing else voting.cast_vote
    try:
        async with transaction(factory) as db:
            cast = await record(db, campaign_id=campaign_id, member=member, picks=picks)
    except DomainError as exc:
        message = exc.message
        if exc.code == voting.WRONG_PICK_COUNT:
            message = (
                f"Please select between 1 and {campaign.picks_per_voter} entries."
                if is_approval(campaign)
                else f"Please select exactly {campaign.picks_per_voter} picks."
            )
        back = f"{here}?change=1" if changing else here
        return redirect_with_flash(request, back, "error", message)
    if cast.early_close_enabled and not changing:
        await campaign_checker.check_early_close(factory, campaign_id)
    done = "Your vote has been changed!" if changing else "Your vote is in!"
    receipt = cast.data["receipt"]
    return redirect_with_flash(
        request,
        here,
        "success",
        f"{done} Your receipt is {receipt}: keep it to find your ballot in the published "
        "ballot list after the campaign closes.",
    )


@router.get("/vote/{campaign_id}/ballots")
async def ballot_list_page(
    request: Request, campaign_id: CampaignPathId, member: PageMember
) -> Response:
    """The published ballot list of a closed campaign: every ballot by receipt, with a lookup
    that highlights the voter's receipt and the digest compared with the audit's."""
    factory = request.app.state.sessionmaker
    await campaign_checker.reconcile(factory, campaign_id)
    async with transaction(factory) as db:
        campaign = await campaign_or_404(db, campaign_id)
        if not campaign_rules.can_view(campaign, campaign_rules.viewer_level(member)):
            if member is None:
                raise LoginRequired(f"/vote/{campaign.id}/ballots")
            raise PageError(403, "You don't have permission to view this campaign.")
        if campaign.status not in ("closed", "archived"):
            return redirect_with_flash(
                request,
                f"/vote/{campaign.id}",
                "info",
                "The ballot list is published when the campaign closes.",
            )
        ballots = await audit.load_receipted_ballots(db, campaign.id)
        mine = (
            await voting.get_my_vote(db, campaign_id=campaign.id, member_id=member.id)
            if member is not None
            else None
        )
    names = {e.id: e.name for e in campaign.entries}
    canonical = receipts.canonical_ballot_list(ballots)
    typed = request.query_params.get("receipt", "")[:40]
    wanted = receipts.normalise_receipt(typed) if typed.strip() else None
    rows = [
        {
            "receipt": receipt,
            "picks": [
                names.get(entry_id, f"entry {entry_id}")
                for entry_id, _ in sorted(picks, key=lambda p: (p[1], p[0]))
            ],
        }
        for receipt, picks in ballots
    ]
    context: dict[str, Any] = {
        "campaign": campaign,
        "rows": rows,
        "digest": receipts.digest_of_text(canonical),
        "audit": audit.audit_of(campaign),
        "typed": typed,
        "wanted": wanted,
        "found": wanted is not None and any(r["receipt"] == wanted for r in rows),
        "my_receipt": mine["receipt"] if mine else None,
        "ordinal": ordinal,
        "approval": is_approval(campaign),
        "active_nav": "vote",
    }
    return await render(request, "vote/ballots.html", context, member=member)
