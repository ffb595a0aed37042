"""The demo guild (00 §9, decision 17): members of every rank with characters, availability,
Mito quotes, Discord accounts, campaigns (live with ballots, closed with results, upcoming) and
one account per rank with a printed password.

`load_demo` refuses a database holding anything but demo data ("empty" = no users, members or
characters other than the demo's; ranks don't count) and is idempotent: a second run finds the
demo and changes nothing. The data is fixed (seeded random), so every run builds the same guild.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from patt.config import Settings
from sv_common import clock
from sv_common.auth import invite_codes
from sv_common.auth.passwords import hash_password_async
from sv_common.db import locks
from sv_common.db.engine import make_engine, make_sessionmaker, transaction
from sv_common.db.models import (
    DAYS_OF_WEEK,
    Ballot,
    Campaign,
    CampaignEntry,
    CampaignResult,
    Character,
    DiscordMember,
    GuildMember,
    GuildRank,
    InviteCode,
    MemberAvailability,
    MitoQuote,
    MitoTitle,
    User,
    Vote,
)
from sv_common.errors import Conflict
from sv_common.identity import characters as character_service
from sv_common.identity import classes
from sv_common.identity import members as member_service

log = logging.getLogger(__name__)
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEMO_DISCORD_FILE = DATA_DIR / "demo_discord.json"
ART = "/static/img/demo"
SEED = 17


@dataclass(frozen=True)
class DemoPerson:
    """One demo member: Discord username, display name, rank level and what they have."""

    username: str
    display_name: str
    level: int
    registered: bool = True
    has_discord_id: bool = True
    on_raid_roster: bool = True


# One account per rank; these passwords are printed (demo only, never production).
DEMO_ACCOUNTS: dict[int, tuple[str, str]] = {
    5: ("stonehoof", "demo-guild-leader"),
    4: ("moonbeard", "demo-officer"),
    3: ("leafybug", "demo-veteran"),
    2: ("tankyhank", "demo-member"),
    1: ("freshpaint", "demo-initiate"),
}

_P = DemoPerson
PEOPLE: tuple[DemoPerson, ...] = (
    _P("stonehoof", "Stonehoof", 5),
    _P("moonbeard", "Moonbeard", 4),
    _P("shadowmend", "Shadowmend", 4),
    _P("bubblewrap", "Bubblewrap", 4),
    _P("ironquill", "Ironquill", 4, on_raid_roster=False),
    _P("leafybug", "Leafybug", 3),
    _P("frostnova", "Frostnova", 3),
    _P("hexhammer", "Hexhammer", 3),
    _P("arrowmancer", "Arrowmancer", 3),
    _P("brewbelly", "Brewbelly", 3),
    _P("lightsworn", "Lightsworn", 3),
    _P("emberclaw", "Emberclaw", 3),
    _P("pocketheals", "Pocket Heals", 3),
    _P("tankyhank", "Tanky Hank", 2),
    _P("pewpewpat", "PewPew Pat", 2),
    _P("stabbyrae", "Stabby Rae", 2),
    _P("mistyfist", "Misty Fist", 2),
    _P("dotsndots", "Dots n Dots", 2),
    _P("felbrew", "Felbrew", 2),
    _P("runescribe", "Runescribe", 2),
    _P("chainheal", "Chainheal", 2),
    _P("thornroot", "Thornroot", 2),
    _P("scalesong", "Scalesong", 2),
    _P("voidwhisper", "Voidwhisper", 2),
    _P("ragequit", "Ragequit", 2, on_raid_roster=False),
    _P("snackbar", "Snackbar", 2, registered=False),
    _P("moonpie", "Moonpie", 2, registered=False),
    _P("critfisher", "Critfisher", 2, registered=False),
    _P("sparklepally", "Sparkle Pally", 2, registered=False),
    _P("grumblebeard", "Grumblebeard", 2, registered=False, on_raid_roster=False),
    _P("freshpaint", "Freshpaint", 1),
    _P("newtnewt", "Newt", 1),
    _P("lootgoblin", "Loot Goblin", 1),
    _P("wanderlynn", "Wanderlynn", 1, registered=False),
    _P("quietstorm", "Quietstorm", 1, registered=False),
    _P("pugsley", "Pugsley", 1, registered=False),
    _P("sprintbolt", "Sprintbolt", 1, registered=False, has_discord_id=False),
    _P("rookierook", "Rookie Rook", 1, registered=False, has_discord_id=False),
    _P("fizzlepop", "Fizzlepop", 1, registered=False, has_discord_id=False),
    _P("bramblekit", "Bramblekit", 1, registered=False, has_discord_id=False),
)
DEMO_USERNAMES = frozenset(p.username for p in PEOPLE)

# Discord accounts nobody has linked yet: work for the identity tools.
UNLINKED_DISCORD = (
    ("100000000000000901", "lurkingleo", "Leo"),
    ("100000000000000902", "newbie_nora", "Nora"),
    ("100000000000000903", "altaholic99", "Altaholic"),
    ("100000000000000904", "sprintbolt_", "Sprintbolt"),
)
# Characters on no member (e.g. seen by a roster sync): the orphan queue.
UNLINKED_CHARACTERS = (
    ("Quietbolt", "Mage", "Frost"),
    ("Grimtusk", "Warrior", "Protection"),
    ("Solacia", "Priest", "Discipline"),
    ("Thistlewick", "Druid", "Feral"),
    ("Emberlyn", "Evoker", "Devastation"),
)
OTHER_REALMS = ("Area 52", "Stormrage", "Moon Guard")
_NAME_START = (
    "Ash",
    "Bel",
    "Cor",
    "Dra",
    "El",
    "Fen",
    "Gal",
    "Hal",
    "Ira",
    "Jor",
    "Kel",
    "Lor",
    "Mor",
    "Nym",
    "Ori",
    "Per",
    "Quel",
    "Ros",
    "Syl",
    "Tor",
    "Ul",
    "Val",
    "Wyn",
    "Xan",
    "Yor",
    "Zel",
)
_NAME_END = (
    "adin",
    "bane",
    "cyra",
    "dris",
    "eth",
    "forge",
    "gar",
    "hild",
    "iel",
    "jax",
    "kor",
    "lyn",
    "mir",
    "nox",
    "ora",
    "pyre",
    "rin",
    "sha",
    "thas",
    "vyn",
    "wen",
    "zar",
)

QUOTES = (
    "Bubble first, ask questions never.",
    "Stand in the good stuff, not the fire.",
    "I'm not saying it was the tank's fault. I'm saying the floor was on fire and he was in it.",
    "Healing is easy. You just press the button before they die.",
    "Who pulled? ... Never mind, I know who pulled.",
    "If the boss is at 1%, it counts as a kill in my heart.",
    "Real life first. Then loot.",
    "Battle rez is a love language.",
    "Please stop feeding the warlock's imp.",
    "That wasn't a wipe, that was a tactical floor inspection.",
)
TITLES = (
    "Healer Extraordinaire",
    "Keeper of the Holy Light Switch",
    "Master of the Hearthstone",
    "Defender of the Snack Table",
    "Warden of the Repair Bill",
    "Archmage of Not Standing In It",
)
AVAILABILITY_NOTES = (
    "",
    "",
    "",
    "Late on Fridays (work)",
    "Saturdays I coach little league",
    "Night shift every other week",
    "Can sub in on short notice",
    "Kids' bedtime — online from 9:15",
)
# Chance of being free on each day, Monday → Sunday (the raid nights are Thu/Fri/Sat).
DAY_WEIGHTS = (0.35, 0.3, 0.4, 0.8, 0.75, 0.7, 0.35)


def snowflake(index: int) -> str:
    """The demo Discord ID of the member at `index` in PEOPLE."""
    return f"1000000000000{index + 1:05d}"


def _character_name(rng: random.Random, taken: set[str]) -> str:
    while True:
        name = rng.choice(_NAME_START) + rng.choice(_NAME_END)
        if name.lower() not in taken and 2 <= len(name) <= 12:
            taken.add(name.lower())
            return name


def _main_name(person: DemoPerson) -> str:
    letters = "".join(ch for ch in person.display_name if ch.isalpha())
    return letters[:12].capitalize()


# --------------------------------------------------------------------------- the checks
async def demo_state(session: AsyncSession) -> str:
    """`empty`, `demo` (the demo is loaded) or `foreign` (data that is not the demo's)."""
    member_name = func.lower(GuildMember.discord_username)
    foreign_members = await session.scalar(
        select(func.count())
        .select_from(GuildMember)
        .where(or_(GuildMember.discord_username.is_(None), member_name.not_in(DEMO_USERNAMES)))
    )
    foreign_characters = await session.scalar(
        select(func.count()).select_from(Character).where(Character.origin != "demo")
    )
    foreign_users = await session.scalar(
        select(func.count())
        .select_from(User)
        .outerjoin(GuildMember, GuildMember.user_id == User.id)
        .where(or_(GuildMember.id.is_(None), member_name.not_in(DEMO_USERNAMES)))
    )
    if foreign_members or foreign_characters or foreign_users:
        return "foreign"
    demo_rows = await session.scalar(select(func.count()).select_from(GuildMember))
    return "demo" if demo_rows else "empty"


# ------------------------------------------------------------------------------ loading
async def _ranks_by_level(session: AsyncSession) -> dict[int, GuildRank]:
    ranks = list((await session.scalars(select(GuildRank).order_by(GuildRank.level))).all())
    if not ranks:
        raise Conflict("No ranks configured — run `patt seed` first.")
    by_level: dict[int, GuildRank] = {}
    for level in range(1, 6):  # custom rank sets: the nearest rank at or below, else the lowest
        below = [r for r in ranks if r.level <= level]
        by_level[level] = below[-1] if below else ranks[0]
    by_level[5] = ranks[-1]  # the Guild Leader holds the top rank
    return by_level


async def _create_discord_accounts(session: AsyncSession, now: datetime) -> None:
    rows = [
        {
            "discord_id": snowflake(i),
            "username": p.username,
            "global_name": p.display_name,
            "display_name": p.display_name,
            "joined_server_at": now - timedelta(days=30 + 20 * i),
            "last_sync": now,
        }
        for i, p in enumerate(PEOPLE)
        if p.has_discord_id
    ]
    rows += [
        {
            "discord_id": discord_id,
            "username": username,
            "global_name": name,
            "display_name": name,
            "joined_server_at": now - timedelta(days=3 + n),
            "last_sync": now,
        }
        for n, (discord_id, username, name) in enumerate(UNLINKED_DISCORD)
    ]
    await session.execute(insert(DiscordMember), rows)


async def _create_members(
    session: AsyncSession, ranks: dict[int, GuildRank], now: datetime
) -> dict[str, GuildMember]:
    created: dict[str, GuildMember] = {}
    for index, person in enumerate(PEOPLE):
        member = await member_service.create_member(
            session,
            actor=None,
            discord_username=person.username,
            display_name=person.display_name,
            discord_id=snowflake(index) if person.has_discord_id else None,
            rank_id=ranks[person.level].id,
            on_raid_roster=person.on_raid_roster,
        )
        created[person.username] = member
    # Accounts: the printed ones get their own password; the others one unguessable shared hash.
    printed = {username: password for username, password in DEMO_ACCOUNTS.values()}
    hashes = await asyncio.gather(
        *(hash_password_async(p) for p in [*printed.values(), os.urandom(24).hex()])
    )
    own_hash = dict(zip(printed, hashes, strict=False))
    shared_hash = hashes[-1]
    for person in PEOPLE:
        if not person.registered:
            continue
        user = User(password_hash=own_hash.get(person.username, shared_hash), is_active=True)
        session.add(user)
        await session.flush()
        member = created[person.username]
        member.user_id = user.id
        member.registered_at = now - timedelta(days=60)
    await session.flush()
    return created


async def _create_characters(
    session: AsyncSession, members: dict[str, GuildMember], rng: random.Random
) -> int:
    specs = list(classes.SPECS)
    rng.shuffle(specs)
    taken: set[str] = set()
    count = 0
    for index, person in enumerate(PEOPLE):
        member = members[person.username]
        # Every member's main has a different spec: all 13 classes and 4 roles are covered.
        main = specs[index % len(specs)]
        name = _main_name(person)
        taken.add(name.lower())
        plans = [(name, main, "main", "Sen'jin")]
        for _ in range(rng.choice((0, 1, 1, 1, 2, 2, 3))):
            spec = rng.choice(classes.SPECS)
            realm = rng.choice(OTHER_REALMS) if rng.random() < 0.15 else "Sen'jin"
            plans.append((_character_name(rng, taken), spec, "alt", realm))
        for char_name, spec, main_alt, realm in plans:
            await character_service.add_character(
                session,
                actor=None,
                member_id=member.id,
                name=char_name,
                realm=realm,
                wow_class=spec.class_name,
                spec=spec.spec_name,
                main_alt=main_alt,
                origin="demo",
            )
            count += 1
    for char_name, wow_class, spec_name in UNLINKED_CHARACTERS:
        fields = character_service.clean_character_fields(
            name=char_name, realm="Sen'jin", wow_class=wow_class, spec=spec_name, role=None
        )
        session.add(Character(**fields, main_alt="main", origin="demo", level=80))
        count += 1
    await session.flush()
    return count


async def _create_availability(
    session: AsyncSession, members: dict[str, GuildMember], rng: random.Random, now: datetime
) -> int:
    rows: list[dict[str, Any]] = []
    for person in PEOPLE:
        if not person.on_raid_roster:
            continue
        member = members[person.username]
        notes = rng.choice(AVAILABILITY_NOTES)
        auto_signup = rng.random() < 0.35
        reminders = rng.random() < 0.25
        updated = now - timedelta(days=rng.randint(1, 40), minutes=rng.randint(0, 600))
        for day, weight in zip(DAYS_OF_WEEK, DAY_WEIGHTS, strict=True):
            rows.append(
                {
                    "member_id": member.id,
                    "day_of_week": day,
                    "available": rng.random() < weight,
                    "notes": notes,
                    "auto_signup": auto_signup,
                    "wants_reminders": reminders,
                    "updated_at": updated,
                }
            )
    await session.execute(insert(MemberAvailability), rows)
    return len(rows) // 7


async def _create_mito(session: AsyncSession) -> None:
    await session.execute(insert(MitoQuote), [{"quote": q} for q in QUOTES])
    await session.execute(insert(MitoTitle), [{"title": t} for t in TITLES])


async def _create_invites(
    session: AsyncSession, members: dict[str, GuildMember], now: datetime
) -> None:
    """One pending and one expired invite, so the roster shows every status."""
    leader = members[DEMO_ACCOUNTS[5][0]]
    sent = (("snackbar", now - timedelta(hours=5)), ("moonpie", now - timedelta(days=5)))
    for username, created in sent:
        session.add(
            InviteCode(
                code=invite_codes.new_code(),
                member_id=members[username].id,
                created_by=leader.id,
                expires_at=created + timedelta(hours=72),
                created_at=created,
            )
        )
    await session.flush()


@dataclass
class _EntryPlan:
    name: str
    description: str | None
    image: str | None


async def _create_campaign(
    session: AsyncSession,
    *,
    title: str,
    description: str,
    entries: Sequence[_EntryPlan],
    picks: int,
    vote_level: int,
    view_level: int | None,
    start_at: datetime,
    duration_hours: int,
    status: str,
    created_by: int,
    associated: Sequence[int | None] = (),
) -> Campaign:
    campaign = Campaign(
        title=title,
        description=description,
        picks_per_voter=picks,
        min_rank_to_vote=vote_level,
        min_rank_to_view=view_level,
        start_at=start_at,
        duration_hours=duration_hours,
        status=status,
        early_close_if_all_voted=True,
        created_by=created_by,
        activated_at=start_at if status != "draft" else None,
    )
    session.add(campaign)
    await session.flush()
    for order, plan in enumerate(entries):
        session.add(
            CampaignEntry(
                campaign_id=campaign.id,
                name=plan.name,
                description=plan.description,
                image_url=f"{ART}/{plan.image}" if plan.image else None,
                sort_order=order,
                associated_member_id=associated[order] if order < len(associated) else None,
            )
        )
    await session.flush()
    return campaign


async def _cast_ballots(
    session: AsyncSession,
    campaign: Campaign,
    voter_ids: Sequence[int],
    rng: random.Random,
    *,
    favourites: Sequence[float],
    cast_between: tuple[datetime, datetime],
) -> int:
    """Write one ballot per voter with `picks_per_voter` picks drawn with these weights."""
    entry_ids = list(
        (
            await session.scalars(
                select(CampaignEntry.id)
                .where(CampaignEntry.campaign_id == campaign.id)
                .order_by(CampaignEntry.sort_order)
            )
        ).all()
    )
    start, end = cast_between
    span = max((end - start).total_seconds(), 1)
    for member_id in voter_ids:
        cast_at = start + timedelta(seconds=rng.uniform(0, span))
        ballot = Ballot(campaign_id=campaign.id, member_id=member_id, cast_at=cast_at)
        session.add(ballot)
        await session.flush()
        pool = list(entry_ids)
        weights = list(favourites[: len(pool)])
        picks: list[int] = []
        while len(picks) < campaign.picks_per_voter:
            choice = rng.choices(range(len(pool)), weights=weights)[0]
            picks.append(pool.pop(choice))
            weights.pop(choice)
        await session.execute(
            insert(Vote),
            [
                {
                    "ballot_id": ballot.id,
                    "campaign_id": campaign.id,
                    "member_id": member_id,
                    "entry_id": entry_id,
                    "rank": rank,
                    "voted_at": cast_at,
                }
                for rank, entry_id in enumerate(picks, start=1)
            ],
        )
    return len(voter_ids)


async def _store_results(session: AsyncSession, campaign: Campaign, now: datetime) -> None:
    """Final results of a closed campaign (the vote service's calculation when it exists)."""
    try:
        from patt.campaigns import voting as vote_service

        store = getattr(vote_service, "calculate_final_results", None)
    except ImportError:
        store = None
    if store is not None:
        await store(session, campaign.id)
        return
    from patt.campaigns import counting

    entries = list(
        (
            await session.execute(
                select(CampaignEntry.id, CampaignEntry.sort_order).where(
                    CampaignEntry.campaign_id == campaign.id
                )
            )
        ).all()
    )
    votes = (
        await session.execute(
            select(Vote.entry_id, Vote.rank).where(Vote.campaign_id == campaign.id)
        )
    ).all()
    scores = counting.compute_scores(
        [{"entry_id": e, "rank": r} for e, r in votes],
        campaign.picks_per_voter,
        entry_ids=[e for e, _ in entries],
    )
    order = {entry_id: sort for entry_id, sort in entries}
    rows = [
        {
            "campaign_id": campaign.id,
            "entry_id": entry_id,
            "first_place_count": values["first"],
            "second_place_count": values["second"],
            "third_place_count": values["third"],
            "rank_counts": values["rank_counts"],
            "weighted_score": values["weighted_score"],
            "final_rank": final_rank,
            "calculated_at": now,
        }
        for entry_id, values, final_rank in counting.rank_results(scores, order)
    ]
    await session.execute(insert(CampaignResult), rows)


async def _create_campaigns(
    session: AsyncSession,
    members: dict[str, GuildMember],
    rng: random.Random,
    now: datetime,
) -> dict[str, int]:
    leader_id = members[DEMO_ACCOUNTS[5][0]].id
    printed = {username for username, _ in DEMO_ACCOUNTS.values()}
    registered = [
        members[p.username].id
        for p in PEOPLE
        if p.registered and p.username not in printed  # demo accounts can still vote
    ]

    live_start = now - timedelta(days=2, hours=3)
    live = await _create_campaign(
        session,
        title="New Guild Banner",
        description="Our banner is older than some of our raiders. Pick the art that will fly "
        "over the guild hall (and our Discord) for the next year!",
        entries=[
            _EntryPlan("Dragon Banner", "Crimson wyrm on black silk.", "dragon-banner.svg"),
            _EntryPlan("Phoenix Crest", "Rising from every wipe.", "phoenix-crest.svg"),
            _EntryPlan("Gryphon Shield", "Steel, sky and stubbornness.", "gryphon-shield.svg"),
            _EntryPlan("Kraken Standard", "Pulls ALL the things.", "kraken-standard.svg"),
            _EntryPlan("Wolf Sigil", "The pack raids together.", "wolf-sigil.svg"),
            _EntryPlan("Treant Emblem", "Slow, steady, unkillable.", "treant-emblem.svg"),
        ],
        picks=3,
        vote_level=1,
        view_level=None,
        start_at=live_start,
        duration_hours=168,
        status="live",
        created_by=leader_id,
        associated=[members["emberclaw"].id, members["leafybug"].id, None, None, None, None],
    )
    live_voters = rng.sample(registered, k=min(14, len(registered)))
    live_ballots = await _cast_ballots(
        session,
        live,
        live_voters,
        rng,
        favourites=(5, 4, 3, 2, 2, 1),
        cast_between=(live_start, now - timedelta(minutes=20)),
    )

    closed_start = now - timedelta(days=12)
    closed = await _create_campaign(
        session,
        title="Mount of the Month",
        description="Which mount do we farm together on Sunday nights?",
        entries=[
            _EntryPlan("Crimson Dragonhawk", "Fast, loud, very red.", "mount-dragonhawk.svg"),
            _EntryPlan("Grand Expedition Mammoth", "Comes with vendors.", "mount-mammoth.svg"),
            _EntryPlan("Moonlit Owl", "Silent night flights.", "mount-owl.svg"),
            _EntryPlan("Treant Strider", "Technically a tree.", "treant-emblem.svg"),
        ],
        picks=2,
        vote_level=2,
        view_level=1,
        start_at=closed_start,
        duration_hours=168,
        status="live",
        created_by=leader_id,
    )
    level_two_up = [members[p.username].id for p in PEOPLE if p.registered and p.level >= 2]
    closed_ballots = await _cast_ballots(
        session,
        closed,
        level_two_up[: max(len(level_two_up) - 4, 1)],
        rng,
        favourites=(3, 4, 2, 1),
        cast_between=(closed_start, closed_start + timedelta(hours=160)),
    )
    closed.status = "closed"
    closed.closed_at = closed_start + timedelta(hours=168)
    closed.close_reason = "expired"
    await session.flush()
    await _store_results(session, closed, closed.closed_at)
    # the audit snapshot a real close takes (receipts, ballot digest), so the demo shows it
    from patt.campaigns import audit as campaign_audit

    await campaign_audit.take_close_snapshot(session, closed, closed.closed_at)

    await _create_campaign(
        session,
        title="Raid Night Theme",
        description="Costume night is coming. Vote opens soon!",
        entries=[
            _EntryPlan("Pirates", "Arr.", None),
            _EntryPlan("Murlocs", "Mrglglgl.", None),
            _EntryPlan("Everyone is a gnome", "Tiny but mighty.", None),
        ],
        picks=1,
        vote_level=1,
        view_level=None,
        start_at=now + timedelta(days=3),
        duration_hours=72,
        status="draft",
        created_by=leader_id,
    )
    return {"live": live.id, "live_ballots": live_ballots, "closed_ballots": closed_ballots}


async def load_into(session: AsyncSession) -> dict[str, Any]:
    """Write the whole demo guild in the caller's transaction; returns counts."""
    now = clock.now()
    rng = random.Random(SEED)
    ranks = await _ranks_by_level(session)
    await _create_discord_accounts(session, now)
    members = await _create_members(session, ranks, now)
    character_count = await _create_characters(session, members, rng)
    roster = await _create_availability(session, members, rng, now)
    await _create_mito(session)
    await _create_invites(session, members, now)
    campaigns = await _create_campaigns(session, members, rng, now)
    return {
        "members": len(members),
        "characters": character_count,
        "availability": roster,
        "discord_accounts": sum(p.has_discord_id for p in PEOPLE) + len(UNLINKED_DISCORD),
        **campaigns,
    }


def summary(settings: Settings, counts: dict[str, Any] | None) -> str:
    """What was loaded and the demo accounts (one per rank)."""
    lines = []
    if counts is None:
        lines.append("The demo guild is already loaded; nothing changed.")
    else:
        lines.append(
            f"Loaded the demo guild: {counts['members']} members, {counts['characters']} "
            f"characters, {counts['availability']} on the raid roster, "
            f"{counts['discord_accounts']} Discord accounts, 3 campaigns "
            f"({counts['live_ballots']} ballots in the live one)."
        )
    lines.append("Demo accounts (log in at " + settings.base_url + "/login):")
    names = {5: "Guild Leader", 4: "Officer", 3: "Veteran", 2: "Member", 1: "Initiate"}
    for level in sorted(DEMO_ACCOUNTS, reverse=True):
        username, password = DEMO_ACCOUNTS[level]
        lines.append(f"  {names[level]:<13} {username:<12} password: {password}")
    return "\n".join(lines)


async def load_demo_async(url: str, settings: Settings, *, only_if_empty: bool) -> str | None:
    """Load the demo unless the database holds other data (Conflict, or None with `only_if_empty`)."""
    if settings.is_production:
        raise Conflict("The demo guild is never loaded with APP_ENV=production.")
    engine = make_engine(url, pool_size=2, max_overflow=0)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            # One loader at a time (two `serve --demo` workers starting together).
            await locks.transaction_lock(session, locks.DEMO_LOAD)
            state = await demo_state(session)
            if state == "foreign":
                if only_if_empty:
                    log.warning(
                        "The database holds data that is not the demo guild's: demo not loaded."
                    )
                    return None
                raise Conflict(
                    "The database holds data that is not the demo guild's; the demo loads "
                    "only into an empty database (or one holding the demo)."
                )
            if state == "demo":
                return summary(settings, None)
            counts = await load_into(session)
        return summary(settings, counts)
    finally:
        await engine.dispose()


def load_demo(url: str, settings: Settings) -> str:
    """Load the demo guild (idempotent); Conflict when the database holds non-demo data."""
    result = asyncio.run(load_demo_async(url, settings, only_if_empty=False))
    assert result is not None
    return result


def load_demo_if_empty(url: str, settings: Settings) -> str | None:
    """Load the demo when the database is empty; None (nothing done) when it holds other data."""
    return asyncio.run(load_demo_async(url, settings, only_if_empty=True))


def prepare_demo_environment(settings: Settings) -> None:
    """Point Discord at the bundled fake server (with an outbox under PATT_DATA_DIR) unless the
    operator configured Discord; never in production."""
    if settings.is_production:
        return
    configured = (
        settings.discord_bot_token
        or settings.discord_backend != "auto"
        or os.environ.get("DISCORD_BACKEND")
    )
    if configured or not DEMO_DISCORD_FILE.exists():
        return
    os.environ["DISCORD_BACKEND"] = "fake"
    os.environ.setdefault("DISCORD_FAKE_FILE", str(DEMO_DISCORD_FILE))
    outbox = Path(settings.patt_data_dir).expanduser().resolve() / "demo-discord-outbox.jsonl"
    os.environ.setdefault("DISCORD_FAKE_OUTBOX", str(outbox))
