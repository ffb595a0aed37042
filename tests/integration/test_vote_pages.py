"""Vote page states and form voting (50 §5), admin campaign pages (50 §6.1–6.2)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from tests.conftest import Factory, MemberHandle, count_rows

from patt.campaigns import service as campaign_service
from sv_common import clock
from sv_common.auth.jwt import create_access_token
from sv_common.db.models import GuildMember

T0 = datetime(2030, 3, 1, 18, 0, tzinfo=UTC)
CSRF = "page-test-csrf-token"


@pytest.fixture(autouse=True)
def frozen_clock(app: Any) -> Iterator[None]:
    clock.set_now(T0)
    yield


def login(app: Any, client: httpx.AsyncClient, handle: MemberHandle | None) -> None:
    """Browser-like session: the login cookie (or none) plus a CSRF cookie."""
    client.cookies.clear()
    client.cookies.set("patt_csrf", CSRF)
    if handle is not None:
        token = create_access_token(
            app.state.jwt_secret,
            user_id=handle.user_id or 0,
            member_id=handle.id,
            rank_level=handle.rank_level,
            expires_minutes=10_000_000,
        )
        client.cookies.set("patt_token", token)


async def make_campaign(
    app: Any,
    *,
    officer: MemberHandle,
    entries: int = 4,
    status: str = "draft",
    **fields: Any,
) -> tuple[int, list[int]]:
    """A campaign created through the services (draft, or activated / closed)."""
    values: dict[str, Any] = {
        "title": "Guild Art Vote",
        "description": "Pick the new banner\nfor the hall",
        "min_rank_to_vote": 2,
        "start_at": T0 + timedelta(days=1),
        "duration_hours": 168,
    }
    values.update(fields)
    async with app.state.sessionmaker() as session, session.begin():
        actor = await session.get(GuildMember, officer.id)
        assert actor is not None
        await session.refresh(actor, ["rank"])
        campaign = await campaign_service.create_campaign(session, actor=actor, fields=values)
        for index, name in enumerate(
            ["Dragon", "Phoenix", "Gryphon", "Wyvern", "Kraken"][:entries]
        ):
            await campaign_service.add_entry(
                session,
                campaign_id=campaign.id,
                fields={"name": name, "image_url": f"https://art.example/{index}.png"},
            )
        if status in ("live", "closed"):
            await campaign_service.activate(session, campaign_id=campaign.id)
        campaign_id = campaign.id
    async with app.state.sessionmaker() as session:
        entry_ids = list(
            (
                await session.execute(
                    text(
                        "SELECT id FROM patt.campaign_entries WHERE campaign_id = :c ORDER BY sort_order, id"
                    ),
                    {"c": campaign_id},
                )
            ).scalars()
        )
    return campaign_id, entry_ids


async def close(app: Any, campaign_id: int) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        await campaign_service.close(session, campaign_id=campaign_id)


def vote_form(entry_ids: list[int], csrf: str | None = CSRF) -> dict[str, str]:
    form = {f"pick_entry_{i}": str(e) for i, e in enumerate(entry_ids)}
    if csrf is not None:
        form["csrf_token"] = csrf
    return form


async def cast(
    app: Any,
    client: httpx.AsyncClient,
    handle: MemberHandle,
    campaign_id: int,
    entry_ids: list[int],
) -> httpx.Response:
    login(app, client, handle)
    return await client.post(f"/vote/{campaign_id}", data=vote_form(entry_ids))


def has_id(html: str, element_id: str) -> bool:
    return f'id="{element_id}"' in html


# ------------------------------------------------------------------------------ vote page
async def test_unknown_campaign_is_404_page(app: Any, client: httpx.AsyncClient) -> None:
    response = await client.get("/vote/999")
    assert response.status_code == 404 and "Campaign not found." in response.text
    assert (await client.get("/vote/abc")).status_code == 404


async def test_upcoming_state_shows_coming_soon_without_entries(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    campaign_id, _ = await make_campaign(app, officer=officer)
    response = await client.get(f"/vote/{campaign_id}")
    assert response.status_code == 200
    html = response.text
    assert "Coming Soon" in html
    assert "Voting opens March 02, 2030 at 18:00 UTC." in html
    assert 'class="countdown" data-end-ts="1898704800"' in html
    assert "Dragon" not in html and not has_id(html, "vote-form")
    assert "DRAFT" in html
    assert "Pick the new banner\nfor the hall" in html  # description line breaks kept (pre-line)


async def test_can_vote_state_has_the_form(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    voter = await factory.member(level=2)
    campaign_id, entry_ids = await make_campaign(app, officer=officer, status="live")
    login(app, client, voter)
    html = (await client.get(f"/vote/{campaign_id}")).text
    assert has_id(html, "vote-form") and f'action="/vote/{campaign_id}"' in html
    assert 'id="vote-grid" class="vote-grid" data-max-picks="3"' in html
    assert f'data-entry-id="{entry_ids[0]}" data-entry-name="Dragon"' in html
    assert "Click images to rank your top 3 choices. Click again to deselect." in html
    assert "Your 1st choice gets 3 points, 2nd gets 2 … last gets 1." in html
    for i in (1, 2, 3):
        assert has_id(html, f"pick-slot-{i}")
    assert has_id(html, "vote-submit-btn") and 'name="pick_entry_2"' in html
    assert "1st choice" in html and "3rd choice" in html
    assert f'name="csrf_token" value="{CSRF}"' in html
    assert "/static/js/vote-interaction.js" in html
    assert "Time remaining:" in html and "LIVE" in html
    assert "Live Standings" not in html


async def test_view_only_and_public_states(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    initiate = await factory.member(level=1)
    campaign_id, _ = await make_campaign(app, officer=officer, status="live")
    login(app, client, initiate)
    html = (await client.get(f"/vote/{campaign_id}")).text
    assert (
        "Your rank is not high enough to vote in this campaign, but you can see the entries."
        in html
    )
    assert "Dragon" in html and not has_id(html, "vote-form") and "Live Standings" not in html
    login(app, client, None)
    html = (await client.get(f"/vote/{campaign_id}")).text
    assert "Dragon" in html and not has_id(html, "vote-form") and "Live Standings" not in html
    assert f'href="/login?next=/vote/{campaign_id}"' in html and "Log in to vote" in html
    assert "vote-interaction.js" not in html


async def test_gated_campaign_redirects_or_forbids(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    low = await factory.member(level=1)
    campaign_id, _ = await make_campaign(app, officer=officer, status="live", min_rank_to_view=2)
    response = await client.get(f"/vote/{campaign_id}")
    assert response.status_code == 302
    assert response.headers["location"] == f"/login?next=/vote/{campaign_id}"
    login(app, client, low)
    response = await client.get(f"/vote/{campaign_id}")
    assert response.status_code == 403
    assert "You don&#39;t have permission to view this campaign." in response.text


async def test_vote_through_the_form_then_standings(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    voter = await factory.member(level=2, display_name="Moon")
    await factory.member(level=3)  # keeps the campaign open (not everyone voted)
    campaign_id, entry_ids = await make_campaign(app, officer=officer, status="live")
    response = await cast(
        app, client, voter, campaign_id, [entry_ids[1], entry_ids[0], entry_ids[2]]
    )
    assert response.status_code == 302 and response.headers["location"] == f"/vote/{campaign_id}"
    assert await count_rows(db, "patt.ballots", "member_id = :m", m=voter.id) == 1
    page = await client.get(f"/vote/{campaign_id}")
    html = page.text
    assert "Your vote is in!" in html
    assert "Your Picks" in html and "Live Standings" in html
    assert "1 of 3 eligible members voted" in html and "33.3%" in html
    assert not has_id(html, "vote-form")
    items = re.findall(r'data-entry-id="(\d+)">\s*<span class="result-item__rank">#(\d+)', html)
    assert [(int(e), int(r)) for e, r in items][:3] == [
        (entry_ids[1], 1),
        (entry_ids[0], 2),
        (entry_ids[2], 3),
    ]
    assert "1 first • 0 second • 0 third" in html
    again = await cast(app, client, voter, campaign_id, entry_ids[:3])
    assert again.status_code == 302
    html = (await client.get(f"/vote/{campaign_id}")).text
    assert "You have already voted in this campaign" in html
    assert await count_rows(db, "patt.votes") == 3


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ("two", "Please select exactly 3 picks."),
        ("dup", "Duplicate entries in picks"),
        ("text", "picks must be a list of {entry_id, rank} objects"),
        ("foreign", "does not belong to campaign"),
        ("rank", "Ranks must be 1 to 3"),
    ],
)
async def test_bad_form_votes_flash_an_error_and_write_nothing(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any, form: str, message: str
) -> None:
    officer = await factory.officer()
    voter = await factory.member(level=2)
    campaign_id, e = await make_campaign(app, officer=officer, status="live")
    data = {
        "two": vote_form(e[:2]),
        "dup": vote_form([e[0], e[0], e[1]]),
        "text": {**vote_form(e[:3]), "pick_entry_1": "Dragon"},
        "foreign": vote_form([e[0], e[1], 999]),
        "rank": {**vote_form(e[:3]), "pick_rank_2": "7"},
    }[form]
    login(app, client, voter)
    response = await client.post(f"/vote/{campaign_id}", data=data)
    assert response.status_code == 302
    html = (await client.get(f"/vote/{campaign_id}")).text
    error = re.search(
        r'<div id="vote-error"[^>]*>.*?<span class="flash__text">(.*?)</span>', html, re.S
    )
    assert error is not None and message in error.group(1).replace("&#39;", "'")
    assert has_id(html, "vote-form")
    assert await count_rows(db, "patt.ballots") == 0


async def test_form_vote_needs_login_csrf_and_a_live_campaign(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    voter = await factory.member(level=2)
    draft_id, draft_entries = await make_campaign(app, officer=officer)
    live_id, e = await make_campaign(app, officer=officer, status="live")
    login(app, client, None)
    anonymous = await client.post(f"/vote/{live_id}", data=vote_form(e[:3]))
    assert (
        anonymous.status_code == 302
        and anonymous.headers["location"] == f"/login?next=/vote/{live_id}"
    )
    login(app, client, voter)
    no_csrf = await client.post(f"/vote/{live_id}", data=vote_form(e[:3], csrf=None))
    assert no_csrf.status_code == 403
    wrong_csrf = await client.post(f"/vote/{live_id}", data=vote_form(e[:3], csrf="other"))
    assert wrong_csrf.status_code == 403
    missing = await client.post("/vote/999", data=vote_form(e[:3]))
    assert missing.status_code == 404
    draft = await client.post(f"/vote/{draft_id}", data=vote_form(draft_entries[:3]))
    assert draft.status_code == 302
    assert "Campaign is draft, voting not allowed" in (await client.get(f"/vote/{draft_id}")).text
    assert await count_rows(db, "patt.ballots") == 0


async def test_closed_state_shows_winners_tie_and_my_picks(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    first = await factory.member(level=2)
    second = await factory.member(level=2)
    await factory.member(level=2)
    campaign_id, e = await make_campaign(app, officer=officer, status="live")
    await cast(app, client, first, campaign_id, [e[0], e[1], e[2]])
    await cast(app, client, second, campaign_id, [e[1], e[0], e[2]])
    await close(app, campaign_id)
    login(app, client, first)
    html = (await client.get(f"/vote/{campaign_id}")).text
    assert "Final Results" in html and "Voting closed" in html and "CLOSED" in html
    assert html.count("result-item--winner") == 2 and html.count("WINNER") == 2
    assert "Tie for first" in html
    assert "Your Picks" in html
    login(app, client, None)
    html = (await client.get(f"/vote/{campaign_id}")).text
    assert "Final Results" in html and "Your Picks" not in html and not has_id(html, "vote-form")


async def test_closed_without_votes_shows_empty_state(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    campaign_id, _ = await make_campaign(app, officer=officer, status="live")
    await close(app, campaign_id)
    html = (await client.get(f"/vote/{campaign_id}")).text
    assert "No votes have been cast yet." in html and "Tie for first" not in html


async def test_page_reconciles_an_expired_campaign(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    campaign_id, _ = await make_campaign(app, officer=officer, status="live", duration_hours=1)
    clock.set_now(T0 + timedelta(hours=1, seconds=1))
    html = (await client.get(f"/vote/{campaign_id}")).text
    assert "Final Results" in html and "CLOSED" in html


async def test_irv_results_explain_the_rounds(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    campaign_id, e = await make_campaign(
        app, officer=officer, status="live", entries=3, counting_method="irv", picks_per_voter=2
    )
    plan = [[e[0], e[2]]] * 2 + [[e[1], e[0]]] * 2 + [[e[2], e[1]]]
    for ballot in plan:
        await cast(app, client, await factory.member(level=2), campaign_id, ballot)
    await close(app, campaign_id)
    login(app, client, None)
    html = (await client.get(f"/vote/{campaign_id}")).text
    assert "How the instant-runoff count went" in html
    assert "Round 1:" in html and "Gryphon eliminated" in html
    assert "wins with more than half of the counted ballots" in html
    assert "Counting: Instant-runoff" in html


async def test_nav_shows_the_vote_link(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    voter = await factory.member(level=2)
    campaign_id, _ = await make_campaign(app, officer=officer, status="live")
    login(app, client, voter)
    html = (await client.get(f"/vote/{campaign_id}")).text
    assert f'href="/vote/{campaign_id}"' in html and ">Vote</a>" in html


# ------------------------------------------------------------------------------ admin pages
def campaign_form(**overrides: str) -> dict[str, str]:
    form = {
        "csrf_token": CSRF,
        "title": "Banner Vote",
        "description": "Pick one",
        "type": "ranked_choice",
        "counting_method": "weighted",
        "picks_per_voter": "3",
        "min_rank_to_vote": "2",
        "min_rank_to_view": "",
        "start_at": "2030-03-05T18:00",
        "duration_hours": "168",
        "discord_channel_id": "",
        "early_close_if_all_voted": "on",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


async def test_admin_pages_require_officer(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    response = await client.get("/admin/campaigns")
    assert (
        response.status_code == 302
        and response.headers["location"] == "/login?next=/admin/campaigns"
    )
    login(app, client, await factory.member(level=3))
    assert (await client.get("/admin/campaigns")).status_code == 403
    assert (await client.get("/admin/campaigns/new")).status_code == 403
    assert (await client.post("/admin/campaigns/new", data=campaign_form())).status_code == 403
    assert await count_rows(db, "patt.campaigns") == 0


async def test_admin_list_orders_and_badges(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    login(app, client, officer)
    assert (
        "No campaigns yet. Create your first campaign."
        in (await client.get("/admin/campaigns")).text
    )
    closed_id, _ = await make_campaign(app, officer=officer, status="live", title="Old vote")
    await close(app, closed_id)
    await make_campaign(app, officer=officer, title="Draft vote", description="d" * 80)
    live_id, _ = await make_campaign(app, officer=officer, status="live", title="Live vote")
    html = (await client.get("/admin/campaigns")).text
    statuses = re.findall(r'data-status="(\w+)"', html)
    assert statuses == ["live", "draft", "closed"]
    assert "d" * 60 + "…" in html and "d" * 61 not in html
    assert (
        f'href="/vote/{live_id}">View</a>' in html
        and f'href="/vote/{closed_id}">Results</a>' in html
    )
    assert "2030-03-01 18:00" in html and "168h" in html


async def test_create_campaign_through_the_form(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    login(app, client, officer)
    page = (await client.get("/admin/campaigns/new")).text
    assert 'name="early_close_if_all_voted" value="on" checked' in page
    assert 'value="168"' in page and 'data-hours="336"' in page
    response = await client.post(
        "/admin/campaigns/new", data=campaign_form(early_close_if_all_voted=None)
    )
    assert response.status_code == 302
    row = (
        await db.execute(
            text("SELECT id, title, early_close_if_all_voted, start_at, status FROM patt.campaigns")
        )
    ).one()
    assert response.headers["location"] == f"/admin/campaigns/{row.id}/edit"
    assert row.title == "Banner Vote" and row.early_close_if_all_voted is False
    assert row.start_at == datetime(2030, 3, 5, 18, 0, tzinfo=UTC) and row.status == "draft"
    html = (await client.get(response.headers["location"])).text
    assert "Campaign created." in html


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"start_at": "not-a-date"}, "Start: enter a valid date and time"),
        ({"start_at": ""}, "Start: enter a valid date and time"),
        ({"title": ""}, "Title"),
        ({"picks_per_voter": "0"}, "Picks per voter"),
        ({"picks_per_voter": "three"}, "Picks per voter: enter a whole number."),
        ({"min_rank_to_view": "3"}, "min_rank_to_view"),
        ({"discord_channel_id": "123"}, "Discord channel ID"),
        ({"duration_hours": "9000"}, "Duration"),
        ({"counting_method": "borda"}, "counting_method"),
    ],
)
async def test_create_form_errors_rerender_with_values(
    app: Any,
    client: httpx.AsyncClient,
    factory: Factory,
    db: Any,
    change: dict[str, str],
    message: str,
) -> None:
    login(app, client, await factory.officer())
    response = await client.post(
        "/admin/campaigns/new", data=campaign_form(description="Keep me", **change)
    )
    assert response.status_code == 400
    assert message in response.text
    assert "Keep me" in response.text  # entered values kept
    if change.get("start_at") == "not-a-date":
        assert 'value="not-a-date"' in response.text
    assert await count_rows(db, "patt.campaigns") == 0


async def test_create_form_needs_csrf(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    login(app, client, await factory.officer())
    response = await client.post("/admin/campaigns/new", data=campaign_form(csrf_token="wrong"))
    assert response.status_code == 403
    assert await count_rows(db, "patt.campaigns") == 0


async def test_edit_settings_in_draft_and_locked_after(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    campaign_id, _ = await make_campaign(app, officer=officer)
    login(app, client, officer)
    response = await client.post(
        f"/admin/campaigns/{campaign_id}/edit",
        data=campaign_form(title="Renamed", counting_method="irv", early_close_if_all_voted=None),
    )
    assert response.status_code == 302
    row = (
        await db.execute(
            text("SELECT title, counting_method, early_close_if_all_voted FROM patt.campaigns")
        )
    ).one()
    assert tuple(row) == ("Renamed", "irv", False)
    assert "Campaign updated." in (await client.get(f"/admin/campaigns/{campaign_id}/edit")).text
    bad = await client.post(
        f"/admin/campaigns/{campaign_id}/edit", data=campaign_form(start_at="31/02/2030")
    )
    assert bad.status_code == 400 and 'value="31/02/2030"' in bad.text
    assert (await db.execute(text("SELECT title FROM patt.campaigns"))).scalar_one() == "Renamed"

    activate = await client.post(
        f"/admin/campaigns/{campaign_id}/activate", data={"csrf_token": CSRF}
    )
    assert activate.status_code == 302
    html = (await client.get(f"/admin/campaigns/{campaign_id}/edit")).text
    assert "Campaign is now live!" in html and "Settings locked while live" in html
    assert "Member (Level 2)" not in html and "Member" in html  # rank names in the summary
    assert not has_id(html, "campaign-form") and not has_id(html, "add-entry-form")
    assert "0 / 1 members voted (0.0%)" in html
    locked = await client.post(
        f"/admin/campaigns/{campaign_id}/edit", data=campaign_form(title="Nope")
    )
    assert locked.status_code == 302
    assert (
        "Campaign can only be edited while in draft status"
        in (await client.get(f"/admin/campaigns/{campaign_id}/edit")).text
    )
    assert (await db.execute(text("SELECT title FROM patt.campaigns"))).scalar_one() == "Renamed"
    assert (await client.get("/admin/campaigns/999/edit")).status_code == 404
    assert (await client.post("/admin/campaigns/999/edit", data=campaign_form())).status_code == 404


async def test_entries_add_edit_move_delete(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    artist = await factory.member(level=2, display_name="Artsy")
    campaign_id, e = await make_campaign(app, officer=officer, entries=2)
    login(app, client, officer)
    base = f"/admin/campaigns/{campaign_id}"
    html = (await client.get(f"{base}/edit")).text
    assert "Add at least 3 entries before activating" in html
    assert re.search(r'id="activate-btn"[^>]*disabled', html)

    added = await client.post(
        f"{base}/entries",
        data={
            "csrf_token": CSRF,
            "name": "Gryphon",
            "image_url": "/static/img/g.png",
            "associated_member_id": str(artist.id),
            "sort_order": "",
        },
    )
    assert added.status_code == 302
    html = (await client.get(f"{base}/edit")).text
    assert "Entry added." in html and "Entries (3)" in html and "Member: Artsy" in html
    orders = (
        await db.execute(
            text("SELECT name, sort_order FROM patt.campaign_entries ORDER BY sort_order")
        )
    ).all()
    assert [tuple(r) for r in orders] == [("Dragon", 0), ("Phoenix", 1), ("Gryphon", 2)]

    bad = await client.post(
        f"{base}/entries",
        data={"csrf_token": CSRF, "name": "Evil", "image_url": "javascript:alert(1)"},
    )
    assert bad.status_code == 400 and "Image URL" in bad.text and 'value="Evil"' in bad.text
    empty = await client.post(f"{base}/entries", data={"csrf_token": CSRF, "name": "  "})
    assert empty.status_code == 400
    assert await count_rows(db, "patt.campaign_entries") == 3

    edited = await client.post(
        f"{base}/entries/{e[0]}/edit",
        data={
            "csrf_token": CSRF,
            "name": "Red Dragon",
            "description": "fiery",
            "image_url": "",
            "associated_member_id": "",
        },
    )
    assert edited.status_code == 302
    assert "Entry updated." in (await client.get(f"{base}/edit")).text
    bad_edit = await client.post(
        f"{base}/entries/{e[0]}/edit", data={"csrf_token": CSRF, "name": "x" * 201}
    )
    assert bad_edit.status_code == 400 and '<details class="entry-edit" open>' in bad_edit.text

    moved = await client.post(
        f"{base}/entries/{e[0]}/move", data={"csrf_token": CSRF, "direction": "down"}
    )
    assert moved.status_code == 302
    orders = (
        await db.execute(
            text("SELECT name, sort_order FROM patt.campaign_entries ORDER BY sort_order")
        )
    ).all()
    assert [tuple(r) for r in orders] == [("Phoenix", 0), ("Red Dragon", 1), ("Gryphon", 2)]
    await client.post(
        f"{base}/entries/{e[0]}/move", data={"csrf_token": CSRF, "direction": "sideways"}
    )
    assert "direction must be" in (await client.get(f"{base}/edit")).text

    deleted = await client.post(f"{base}/entries/{e[1]}/delete", data={"csrf_token": CSRF})
    assert deleted.status_code == 302
    assert "Entry removed." in (await client.get(f"{base}/edit")).text
    assert await count_rows(db, "patt.campaign_entries") == 2
    no_csrf = await client.post(f"{base}/entries/{e[0]}/delete", data={})
    assert no_csrf.status_code == 403
    other = await client.post(f"{base}/entries/99999/delete", data={"csrf_token": CSRF})
    assert other.status_code == 302
    assert "Entry 99999 not found in campaign" in (await client.get(f"{base}/edit")).text
    assert await count_rows(db, "patt.campaign_entries") == 2


async def test_actions_activate_close_archive(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    campaign_id, _ = await make_campaign(app, officer=officer, entries=2)
    login(app, client, officer)
    base = f"/admin/campaigns/{campaign_id}"
    await client.post(f"{base}/activate", data={"csrf_token": CSRF})
    assert "Add at least 3 entries before activating" in (await client.get(f"{base}/edit")).text
    await client.post(f"{base}/entries", data={"csrf_token": CSRF, "name": "Third"})
    html = (await client.get(f"{base}/edit")).text
    assert (
        'data-confirm="Open voting now? Members can vote immediately and the clock starts now."'
        in html
    )
    await client.post(f"{base}/activate", data={"csrf_token": CSRF})
    html = (await client.get(f"{base}/edit")).text
    assert "Campaign is now live!" in html
    assert 'data-confirm="Close this campaign? Results will be calculated immediately."' in html
    assert (await client.post(f"{base}/close", data={})).status_code == 403
    await client.post(f"{base}/close", data={"csrf_token": CSRF})
    html = (await client.get(f"{base}/edit")).text
    assert (
        "Campaign closed. Results calculated." in html
        and "Campaign is closed. Results are final." in html
    )
    assert await count_rows(db, "patt.campaign_results") == 3
    await client.post(f"{base}/close", data={"csrf_token": CSRF})
    assert "Campaign is closed, cannot close" in (await client.get(f"{base}/edit")).text
    await client.post(f"{base}/archive", data={"csrf_token": CSRF})
    html = (await client.get(f"{base}/edit")).text
    assert "Campaign archived." in html and "ARCHIVED" in html


async def test_blocked_draft_banner(app: Any, client: httpx.AsyncClient, factory: Factory) -> None:
    officer = await factory.officer()
    campaign_id, _ = await make_campaign(
        app, officer=officer, entries=1, start_at=T0 - timedelta(hours=1)
    )
    login(app, client, officer)
    html = (await client.get(f"/admin/campaigns/{campaign_id}/edit")).text
    assert 'id="blocked-banner"' in html and "1 of the 3 entries it needs" in html


# ------------------------------------------------------------------------------ review fixes
NUL = "\u0000"


@pytest.mark.parametrize(
    ("field", "value", "label"),
    [
        ("title", f"Banner{NUL}Vote", "Title"),
        ("description", f"Pick{NUL}one", "Description"),
        ("start_at", f"2030-03-05T18:00{NUL}", "Start"),
        ("discord_channel_id", f"1234567890123456{NUL}78", "Discord channel ID"),
    ],
)
async def test_nul_in_campaign_form_rerenders_with_a_message(
    app: Any,
    client: httpx.AsyncClient,
    factory: Factory,
    db: Any,
    field: str,
    value: str,
    label: str,
) -> None:
    officer = await factory.officer()
    login(app, client, officer)
    form = campaign_form(**{"description": "Keep me", field: value})
    response = await client.post("/admin/campaigns/new", data=form)
    assert response.status_code == 400
    assert f"{label}: must not contain NUL characters." in response.text
    assert has_id(response.text, "campaign-form") and NUL not in response.text
    if field != "description":
        assert "Keep me" in response.text
    assert await count_rows(db, "patt.campaigns") == 0

    campaign_id, _ = await make_campaign(app, officer=officer)
    edited = await client.post(f"/admin/campaigns/{campaign_id}/edit", data=form)
    assert edited.status_code == 400
    assert f"{label}: must not contain NUL characters." in edited.text
    title = (await db.execute(text("SELECT title FROM patt.campaigns"))).scalar_one()
    assert title == "Guild Art Vote"


@pytest.mark.parametrize(
    ("field", "label"),
    [("name", "Name"), ("description", "Description"), ("image_url", "Image URL")],
)
async def test_nul_in_entry_forms_rerenders_with_a_message(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any, field: str, label: str
) -> None:
    officer = await factory.officer()
    campaign_id, entry_ids = await make_campaign(app, officer=officer, entries=1)
    login(app, client, officer)
    base = f"/admin/campaigns/{campaign_id}"
    data = {"csrf_token": CSRF, "name": "Gryphon", "image_url": "https://a.example/g.png"}
    data[field] = data.get(field, "x") + NUL
    added = await client.post(f"{base}/entries", data=data)
    assert added.status_code == 400
    assert f"{label}: must not contain NUL characters." in added.text
    assert has_id(added.text, "add-entry-form") and NUL not in added.text
    edited = await client.post(f"{base}/entries/{entry_ids[0]}/edit", data=data)
    assert edited.status_code == 400
    assert f"{label}: must not contain NUL characters." in edited.text
    assert '<details class="entry-edit" open>' in edited.text
    rows = (await db.execute(text("SELECT name, image_url FROM patt.campaign_entries"))).all()
    assert [tuple(r) for r in rows] == [("Dragon", "https://art.example/0.png")]


@pytest.mark.parametrize("start", ["0001-01-01T00:00", "9999-12-31T23:59"])
async def test_extreme_start_in_the_form_is_the_range_error(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any, start: str
) -> None:
    officer = await factory.officer()
    login(app, client, officer)
    response = await client.post("/admin/campaigns/new", data=campaign_form(start_at=start))
    assert response.status_code == 400
    assert "must be between the years 2000 and 9000" in response.text
    assert await count_rows(db, "patt.campaigns") == 0
    campaign_id, _ = await make_campaign(app, officer=officer)
    edited = await client.post(
        f"/admin/campaigns/{campaign_id}/edit", data=campaign_form(start_at=start)
    )
    assert edited.status_code == 400 and "between the years 2000 and 9000" in edited.text


async def test_http_image_url_in_the_entry_form_says_what_is_allowed(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    campaign_id, _ = await make_campaign(app, officer=officer, entries=0)
    login(app, client, officer)
    response = await client.post(
        f"/admin/campaigns/{campaign_id}/entries",
        data={"csrf_token": CSRF, "name": "Art", "image_url": "http://art.example/a.png"},
    )
    assert response.status_code == 400
    assert (
        "Image URL: must be an https:// URL or a path under /static/ "
        "(no &#39;..&#39;, &#39;%2e&#39;, backslashes or &#39;//&#39;)." in response.text
    )
    assert 'value="http://art.example/a.png"' in response.text
    assert await count_rows(db, "patt.campaign_entries") == 0


async def test_invalid_add_entry_on_a_live_campaign_shows_the_draft_only_error(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    campaign_id, e = await make_campaign(app, officer=officer, status="live")
    login(app, client, officer)
    base = f"/admin/campaigns/{campaign_id}"
    response = await client.post(f"{base}/entries", data={"csrf_token": CSRF, "name": ""})
    assert response.status_code == 302 and response.headers["location"] == f"{base}/edit"
    html = (await client.get(f"{base}/edit")).text
    assert "Entries can only be added while campaign is in draft status" in html
    edit = await client.post(
        f"{base}/entries/{e[0]}/edit", data={"csrf_token": CSRF, "name": "x" * 201}
    )
    assert edit.status_code == 302
    html = (await client.get(f"{base}/edit")).text
    assert "Entries can only be changed while campaign is in draft status" in html
    assert await count_rows(db, "patt.campaign_entries") == 4


async def test_entry_image_preview_script_only_on_the_campaign_edit_pages(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    campaign_id, e = await make_campaign(app, officer=officer, entries=1)
    login(app, client, officer)
    script = '<script src="/static/js/admin-campaigns.js" defer></script>'
    html = (await client.get(f"/admin/campaigns/{campaign_id}/edit")).text
    assert script in html
    assert 'data-image-preview-for="add-image"' in html
    assert f'data-image-preview-for="edit-{e[0]}-image"' in html
    assert re.search(r'<img class="image-preview"[^>]* hidden', html)
    assert script in (await client.get("/admin/campaigns/new")).text
    assert script not in (await client.get("/admin/campaigns")).text
    assert script not in (await client.get(f"/vote/{campaign_id}")).text
    asset = await client.get("/static/js/admin-campaigns.js")
    assert asset.status_code == 200 and "innerHTML" not in asset.text
