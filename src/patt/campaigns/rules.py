"""Pure campaign rules: when voting ends, who may see and vote, why a draft did not open."""

from __future__ import annotations

from datetime import datetime, timedelta

from sv_common import clock
from sv_common.auth.sessions import Principal
from sv_common.db.models import Campaign, GuildMember

# Who is looking: the ORM member, or the one-statement Principal of the fast read paths.
Viewer = GuildMember | Principal

# Listing order: what a member can act on first.
STATUS_ORDER = {"live": 0, "draft": 1, "closed": 2, "archived": 3}


def end_at(campaign: Campaign) -> datetime:
    """`start_at + duration_hours` (derived, never stored)."""
    return campaign.start_at + timedelta(hours=campaign.duration_hours)


def viewer_level(member: Viewer | None) -> int:
    """Current rank level, 0 when anonymous."""
    return member.rank.level if member is not None else 0


def can_view(campaign: Campaign, level: int) -> bool:
    """`min_rank_to_view` is null (public) or the viewer's level reaches it."""
    return campaign.min_rank_to_view is None or level >= campaign.min_rank_to_view


def can_vote(campaign: Campaign, member: GuildMember | None) -> bool:
    """Logged in and level ≥ `min_rank_to_vote`."""
    return member is not None and member.rank.level >= campaign.min_rank_to_vote


def blocked_reason(campaign: Campaign, entry_count: int, now: datetime | None = None) -> str | None:
    """Why a draft whose scheduled start has passed did not open automatically (or None)."""
    moment = now or clock.now()
    if campaign.status != "draft" or campaign.start_at > moment:
        return None
    if end_at(campaign) <= moment:
        return (
            "The scheduled voting window has already ended, so this draft will not open by "
            "itself. Edit the start time or duration, or activate it manually."
        )
    if entry_count < campaign.picks_per_voter:
        return (
            f"The scheduled start has passed but the campaign has {entry_count} of the "
            f"{campaign.picks_per_voter} entries it needs. Add entries and it opens within a "
            "minute, or edit the schedule."
        )
    return None
