"""Names that Python and PostgreSQL case-fold differently still find their member, and names with
control, invisible or text-direction characters are refused before anything is stored."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import Factory, count_rows
from tests.integration.test_roster_signup import form, post

from patt.raid.rules import Person, signup_commands
from sv_common.auth import invite_codes

LOGIN = "/api/v1/auth/login"
MEMBERS = "/api/v1/admin/members"


@pytest.mark.parametrize("name", ["ΣΑΣ#1234", "İbo#1234"])
async def test_odd_case_names_resubmit_the_sign_up_and_log_in(
    app: Any, client: httpx.AsyncClient, db: AsyncSession, factory: Factory, name: str
) -> None:
    first = await post(client, form(discordName=name))
    assert first.status_code == 200, first.text
    again = await post(client, form(discordName=name, notes="Updated"))
    assert again.status_code == 200, again.text  # the same person, found again
    assert await count_rows(db, "common.guild_members") == 1
    # an account for that name logs in with the name exactly as typed
    officer = await factory.officer()
    client.cookies.clear()
    listing = await client.get(MEMBERS, headers=officer.headers)
    assert listing.status_code == 200, listing.text
    target = next(m for m in listing.json()["data"] if m["discord_username"] == name)
    async with app.state.sessionmaker() as session, session.begin():
        invite = await invite_codes.generate_invite_code(
            session, member_id=target["id"], created_by_id=officer.id
        )
    code = invite.code
    registered = await client.post(
        "/api/v1/auth/register",
        json={"code": code, "discord_username": name, "password": "a-good-passphrase"},
    )
    assert registered.status_code == 201, registered.text
    login = await client.post(
        LOGIN, json={"discord_username": name, "password": "a-good-passphrase"}
    )
    assert login.status_code == 200


@pytest.mark.parametrize(
    "bad",
    [
        "zero\u200bwidth",
        "right\u202eto-left",
        "iso\u2066late",
        "bom\ufeffname",
        "bell\u0007",
        "line\u2028sep",
    ],
)
async def test_invisible_characters_are_refused_in_names(
    client: httpx.AsyncClient, db: AsyncSession, factory: Factory, bad: str
) -> None:
    officer = await factory.officer()
    before = await count_rows(db, "common.guild_members")
    for body in ({"discord_username": bad}, {"discord_username": "plainname", "display_name": bad}):
        response = await client.post(MEMBERS, json=body, headers=officer.headers)
        assert response.status_code == 422, (body, response.text)
        assert "invisible" in response.json()["error"]
    signup = await post(client, form(discordName=f"{bad}#1234"))
    assert signup.status_code == 422 and signup.json()["success"] is False
    character = await post(client, form(characterName=f"Sh{bad[:1]}\u200bvy"))
    assert character.status_code == 422
    assert await count_rows(db, "common.guild_members") == before


def test_a_visitor_cannot_add_options_to_the_raid_helper_commands() -> None:
    sneaky = Person(
        member_id=1,
        discord="x status:Absence#1234",
        discord_id=None,
        character="Shivvy",
        class_name="Rogue",
        spec="Outlaw",
        role="Melee",
        days=frozenset({"thursday"}),
        auto_signup=True,
        wants_reminders=True,
        notes="",
    )
    text = signup_commands([sneaky], [])
    line = next(row for row in text.splitlines() if row.startswith("/adduser"))
    assert "status:" not in line and line.count(":") == 2  # only class: and spec:
    assert "@x_status_Absence#1234" in line
