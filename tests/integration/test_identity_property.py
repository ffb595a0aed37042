"""Property: whatever sequence of Discord joins/updates/leaves, character syncs and removals,
matching runs, manual links (with and without move), link removals and confirmations happens,
no character or Discord account ever belongs to two members and the identity invariants hold
after every step.

Operations are generated as data (a small rule-based program per example) and applied to a
real database; domain refusals (404/409/422) are allowed outcomes, anything else fails.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from tests.conftest import reset_database
from tests.identity_invariants import identity_violations
from tests.identity_support import Actor

from sv_common import clock
from sv_common.db.models import Character, DiscordMember, GuildMember, IdentityLink
from sv_common.discord.interface import DiscordMemberInfo, DiscordRole, MemberEvent
from sv_common.errors import DomainError
from sv_common.guild_sync.discord_sync import MemberEventHandler
from sv_common.identity import members as member_service
from sv_common.identity.integrity.checker import run_integrity_check
from sv_common.identity.links import confirm_link, link_manually, remove_link
from sv_common.identity.matching.engine import run_matching

NAMES = ["Aldrameth", "Aldramethh", "Stonehoof", "Zoëlle", "Zoelie", "Brañix", "Kaelen"]
ROLES = [None, DiscordRole("200000000000000004", "Member", 7)]
NOTES = [None, "alt of {}", "DC: {}", "{}'s alt", "main: {}", "@{}"]

discord_event = st.tuples(
    st.just("discord"),
    st.integers(0, 5),  # which Discord user
    st.sampled_from(["join", "update", "remove"]),
    st.integers(0, len(NAMES) - 1),  # username
    st.one_of(st.none(), st.integers(0, len(NAMES) - 1)),  # nickname
    st.integers(0, len(ROLES) - 1),
)
character_sync = st.tuples(
    st.just("character"),
    st.integers(0, len(NAMES) - 1),
    st.sampled_from(["senjin", "area-52"]),
    st.integers(0, len(NOTES) - 1),
    st.integers(0, len(NAMES) - 1),  # the name a note mentions
)
character_leaves = st.tuples(st.just("leave"), st.integers(0, 20))
matching = st.tuples(st.just("match"))
check = st.tuples(st.just("check"))
manual_link = st.tuples(
    st.just("link"),
    st.sampled_from(["character+account", "character+member", "account+member"]),
    st.integers(0, 20),
    st.integers(0, 20),
    st.booleans(),  # move
)
unlink = st.tuples(st.just("unlink"), st.integers(0, 20))
confirm = st.tuples(st.just("confirm"), st.integers(0, 20))

program = st.lists(
    st.one_of(
        discord_event,
        character_sync,
        character_leaves,
        matching,
        matching,
        check,
        manual_link,
        unlink,
        confirm,
    ),
    min_size=3,
    max_size=14,
)


def _pick(ids: list[int], index: int) -> int | None:
    return ids[index % len(ids)] if ids else None


class Runner:
    """Applies one generated program to the app's database."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.handler = MemberEventHandler(app.state.sessionmaker)
        self.actor: Actor | None = None

    async def start(self) -> None:
        await reset_database(self.app)
        async with self.app.state.sessionmaker() as session, session.begin():
            member = await member_service.create_member(
                session, actor=None, discord_username="olga", display_name="Officer Olga"
            )
            self.actor = Actor(id=member.id, display_name="Officer Olga")

    async def ids(self, model: Any, *where: Any) -> list[int]:
        async with self.app.state.sessionmaker() as session:
            return list(
                (await session.scalars(select(model.id).where(*where).order_by(model.id))).all()
            )

    async def apply(self, step: tuple[Any, ...]) -> None:
        kind = step[0]
        if kind == "discord":
            _, user, event, username, nickname, role = step
            info = DiscordMemberInfo(
                id=f"{300000000000000000 + user}",
                username=NAMES[username].lower(),
                nick=NAMES[nickname] if nickname is not None else None,
                roles=(ROLES[role],) if ROLES[role] else (),
            )
            await self.handler(MemberEvent(kind=event, member=info))
            return
        async with self.app.state.sessionmaker() as session:
            try:
                async with session.begin():
                    await self._apply_in(session, step)
            except DomainError:
                pass  # a refused request changes nothing (rolled back)

    async def _apply_in(self, session: Any, step: tuple[Any, ...]) -> None:
        kind = step[0]
        assert self.actor is not None
        if kind == "character":
            _, name, realm, note, mentioned = step
            template = NOTES[note]
            await session.execute(
                text(
                    "INSERT INTO common.characters (name, realm_slug, guild_note, origin) "
                    "VALUES (:name, :realm, :note, 'blizzard_sync') "
                    "ON CONFLICT (lower(name), realm_slug) DO UPDATE "
                    "SET removed_at = NULL, guild_note = EXCLUDED.guild_note"
                ),
                {
                    "name": NAMES[name],
                    "realm": realm,
                    "note": template.format(NAMES[mentioned]) if template else None,
                },
            )
        elif kind == "leave":
            characters = await self.ids(Character)
            target = _pick(characters, step[1])
            if target is not None:
                await session.execute(
                    text("UPDATE common.characters SET removed_at = :now WHERE id = :id"),
                    {"now": clock.now(), "id": target},
                )
        elif kind == "match":
            await run_matching(session)
        elif kind == "check":
            await run_integrity_check(session)
        elif kind == "link":
            _, shape, first, second, move = step
            characters = await self.ids(Character)
            accounts = await self.ids(DiscordMember)
            members = await self.ids(GuildMember)
            body: dict[str, Any] = {"move": move}
            if shape == "character+account":
                body |= {
                    "character_id": _pick(characters, first),
                    "discord_member_id": _pick(accounts, second),
                }
            elif shape == "character+member":
                body |= {
                    "character_id": _pick(characters, first),
                    "member_id": _pick(members, second),
                }
            else:
                body |= {
                    "discord_member_id": _pick(accounts, first),
                    "member_id": _pick(members, second),
                }
            if None not in body.values():
                await link_manually(session, officer=self.actor, **body)
        elif kind in ("unlink", "confirm"):
            link_id = _pick(await self.ids(IdentityLink), step[1])
            if link_id is not None:
                if kind == "unlink":
                    await remove_link(session, link_id=link_id, officer=self.actor)
                else:
                    await confirm_link(session, link_id=link_id, officer=self.actor)


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=program)
async def test_no_entity_ever_belongs_to_two_members(
    app: Any, steps: list[tuple[Any, ...]]
) -> None:
    runner = Runner(app)
    await runner.start()
    for number, step in enumerate(steps):
        await runner.apply(step)
        async with app.state.sessionmaker() as session:
            violations = await identity_violations(session)
        assert not violations, f"after step {number} {step}: {violations}"
