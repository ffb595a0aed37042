"""Landing page `/` (50 §4.1): hero, Active Votes, Recent Results, Mito's quote, About."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import text
from tests.conftest import Factory

from sv_common import clock
from sv_common.db.models import Campaign, CampaignEntry, MitoQuote, MitoTitle


async def campaign(
    app: Any,
    *,
    title: str,
    status: str = "live",
    description: str | None = "A vote",
    entries: int = 3,
    view: int | None = None,
    vote: int = 1,
    start_offset: timedelta = timedelta(hours=-1),
    hours: int = 168,
    closed_ago: timedelta | None = None,
) -> int:
    """A campaign row with `entries` entries (the campaign service is another feature's)."""
    now = clock.now()
    async with app.state.sessionmaker() as session, session.begin():
        row = Campaign(
            title=title,
            description=description,
            min_rank_to_vote=vote,
            min_rank_to_view=view,
            start_at=now + start_offset,
            duration_hours=hours,
            status=status,
            closed_at=(now - closed_ago) if closed_ago is not None else None,
            close_reason="manual" if closed_ago is not None else None,
        )
        session.add(row)
        await session.flush()
        for i in range(entries):
            session.add(CampaignEntry(campaign_id=row.id, name=f"Entry {i}", sort_order=i))
        return row.id


async def add_quotes(app: Any, quotes: list[str], titles: list[str]) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        session.add_all([MitoQuote(quote=q) for q in quotes])
        session.add_all([MitoTitle(title=t) for t in titles])


def login_as(client: httpx.AsyncClient, token: str | None) -> None:
    client.cookies.set("patt_token", token or "")


# ------------------------------------------------------------------------------------- hero
async def test_anonymous_landing_has_hero_sign_in_and_about(client: httpx.AsyncClient):
    response = await client.get("/")
    assert response.status_code == 200
    page = response.text
    assert "<title>Home — Pull All The Things</title>" in page
    assert "Pull All The Things" in page
    assert "A World of Warcraft guild — Real life first, zero toxicity" in page
    assert 'src="/static/img/landing.svg"' in page and 'data-fallback="hide"' in page
    assert 'href="/login"' in page and "Sign In" in page
    assert "Have an invite code? Register" in page
    assert "Active Votes" not in page  # nothing live and nobody logged in
    assert "Recent Results" not in page
    assert "Mito&#39;s Quote of the Day" not in page and "Quote of the Day" not in page
    for heading in ("About the Guild", "Our Philosophy", "Focus", "Podcast", "Salt All The Things"):
        assert heading in page
    assert 'href="/roster-view"' in page and 'href="/roster"' in page
    assert "patt_csrf" in response.headers.get("set-cookie", "")


async def test_landing_art_is_served(client: httpx.AsyncClient):
    response = await client.get("/static/img/landing.svg")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in response.text and "<script" not in response.text


async def test_custom_landing_image_url(app: Any, client: httpx.AsyncClient):
    app.state.settings = app.state.settings.model_copy(
        update={"landing_image_url": "https://cdn.example/art.png"}
    )
    response = await client.get("/")
    assert 'src="https://cdn.example/art.png"' in response.text


# ------------------------------------------------------------------------------ active votes
async def test_live_public_campaign_card_for_anonymous(app: Any, client: httpx.AsyncClient):
    long_text = "x" * 90 + " and then some more words that go past the limit"
    cid = await campaign(app, title="Guild Art Vote", description=long_text, entries=4)
    row_start = clock.now()
    response = await client.get("/")
    page = response.text
    assert "Active Votes" in page
    assert "Guild Art Vote" in page
    assert "x" * 90 + " and then…" in page
    assert "some more words" not in page
    assert "4 entries" in page
    assert f'href="/login?next=/vote/{cid}"' in page and "Login to Vote" in page
    assert "Vote Now" not in page
    match = re.search(r'class="countdown" data-end-ts="(\d+)"', page)
    assert match is not None
    expected_end = int((row_start - timedelta(hours=1) + timedelta(hours=168)).timestamp())
    assert abs(int(match.group(1)) - expected_end) <= 1
    assert "Ends in" in page


async def test_short_description_is_not_cut(app: Any, client: httpx.AsyncClient):
    await campaign(app, title="Poll", description="y" * 100, entries=1)
    page = (await client.get("/")).text
    assert "y" * 100 + "<" in page and "y" * 100 + "…" not in page
    assert "1 entry" in page


async def test_logged_in_member_sees_vote_now_and_nav(
    app: Any, client: httpx.AsyncClient, factory: Factory
):
    member = await factory.member(level=2, username="moonbeard", display_name="Moon")
    cid = await campaign(app, title="Book Club")
    login_as(client, member.token)
    page = (await client.get("/")).text
    assert f'href="/vote/{cid}"' in page and "Vote Now" in page
    assert "Login to Vote" not in page
    assert "Moon" in page and "Member" in page and "Logout" in page
    assert 'href="/admin"' not in page
    assert "Sign In" not in page


async def test_admin_link_only_for_officers(client: httpx.AsyncClient, factory: Factory):
    officer = await factory.officer(username="officer")
    login_as(client, officer.token)
    assert 'href="/admin"' in (await client.get("/")).text


async def test_rank_gated_campaigns_only_for_high_enough_ranks(
    app: Any, client: httpx.AsyncClient, factory: Factory
):
    await campaign(app, title="Public Poll")
    await campaign(app, title="Veterans Only", view=3, vote=3)
    anonymous = (await client.get("/")).text
    assert "Public Poll" in anonymous and "Veterans Only" not in anonymous

    low = await factory.member(level=2, username="low")
    login_as(client, low.token)
    assert "Veterans Only" not in (await client.get("/")).text

    high = await factory.member(level=3, username="high")
    login_as(client, high.token)
    assert "Veterans Only" in (await client.get("/")).text


async def test_drafts_and_archived_campaigns_are_not_shown(app: Any, client: httpx.AsyncClient):
    await campaign(app, title="Still Drafting", status="draft", start_offset=timedelta(hours=5))
    await campaign(app, title="Long Archived", status="archived", closed_ago=timedelta(days=9))
    page = (await client.get("/")).text
    assert "Still Drafting" not in page and "Long Archived" not in page


async def test_due_transitions_are_applied_before_listing(app: Any, client: httpx.AsyncClient):
    overdue = await campaign(app, title="Overdue Live", start_offset=timedelta(hours=-10), hours=2)
    await campaign(app, title="Starts Now", status="draft", start_offset=timedelta(minutes=-1))
    page = (await client.get("/")).text
    active = page[page.index("Active Votes") : page.index("Recent Results")]
    assert "Starts Now" in active and "Overdue Live" not in active
    assert "Overdue Live" in page[page.index("Recent Results") :]
    async with app.state.sessionmaker() as session:
        status = (
            await session.execute(
                text("SELECT status FROM patt.campaigns WHERE id = :i"), {"i": overdue}
            )
        ).scalar_one()
    assert status == "closed"


async def test_logged_in_empty_state(client: httpx.AsyncClient, factory: Factory):
    member = await factory.member()
    login_as(client, member.token)
    page = (await client.get("/")).text
    assert "Active Votes" in page
    assert "No active campaigns right now. Check back soon!" in page


async def test_active_cards_ordered_by_soonest_end(app: Any, client: httpx.AsyncClient):
    await campaign(app, title="Ends Later", hours=200)
    await campaign(app, title="Ends Sooner", hours=20)
    page = (await client.get("/")).text
    assert page.index("Ends Sooner") < page.index("Ends Later")


# ---------------------------------------------------------------------------- recent results
async def test_recent_results_three_newest_closed_visible(
    app: Any, client: httpx.AsyncClient, factory: Factory
):
    ids = {}
    for days, title in [(1, "Newest"), (2, "Second"), (3, "Third"), (4, "Fourth")]:
        ids[title] = await campaign(
            app, title=title, status="closed", closed_ago=timedelta(days=days)
        )
    await campaign(app, title="Archived One", status="archived", closed_ago=timedelta(hours=1))
    await campaign(
        app, title="Secret Result", status="closed", closed_ago=timedelta(hours=2), view=4, vote=4
    )
    page = (await client.get("/")).text
    assert "Recent Results" in page
    assert page.index("Newest") < page.index("Second") < page.index("Third")
    assert "Fourth" not in page and "Archived One" not in page and "Secret Result" not in page
    assert f'href="/vote/{ids["Newest"]}"' in page and "View Results" in page
    assert ">Closed<" in page

    officer = await factory.officer()
    login_as(client, officer.token)
    officer_page = (await client.get("/")).text
    assert "Secret Result" in officer_page and "Third" not in officer_page


# ------------------------------------------------------------------------------------ quote
async def test_quote_of_the_day_with_title(app: Any, client: httpx.AsyncClient):
    await add_quotes(app, ["Stand in the fire, it's warm."], ["Keeper of the Bandages"])
    page = (await client.get("/")).text
    assert "Quote of the Day" in page
    assert "Stand in the fire, it&#39;s warm." in page
    assert "— Mito, Keeper of the Bandages" in page


async def test_quote_falls_back_to_the_default_title(app: Any, client: httpx.AsyncClient):
    await add_quotes(app, ["Who pulled?"], [])
    page = (await client.get("/")).text
    assert "Who pulled?" in page
    assert "— Mito, Healer Extraordinaire" in page


async def test_quote_and_titles_are_escaped(app: Any, client: httpx.AsyncClient):
    await add_quotes(app, ["<script>alert('q')</script>"], ["<b>Bold</b>"])
    page = (await client.get("/")).text
    assert "<script>alert(" not in page and "<b>Bold</b>" not in page
    assert "&lt;script&gt;" in page and "&lt;b&gt;Bold&lt;/b&gt;" in page


async def test_campaign_text_is_escaped(app: Any, client: httpx.AsyncClient):
    await campaign(app, title="<img src=x onerror=alert(1)>", description="<i>hi</i>")
    page = (await client.get("/")).text
    assert "<img src=x" not in page and "<i>hi</i>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


async def test_invalid_session_cookie_on_landing_is_dropped(client: httpx.AsyncClient):
    client.cookies.set("patt_token", "garbage")
    response = await client.get("/")
    assert response.status_code == 200
    assert "Sign In" in response.text
    assert any(c.startswith("patt_token=") for c in response.headers.get_list("set-cookie"))


# ------------------------------------------------------------ anonymous pages kept rendered
async def test_anonymous_page_is_reused_yet_shows_every_change_at_once(
    app: Any, client: httpx.AsyncClient
):
    await add_quotes(app, ["Only quote"], ["Only title"])
    first = await client.get("/")
    again = await client.get("/")
    assert again.status_code == 200 and again.text == first.text
    assert "Only quote" in again.text and "Active Votes" not in again.text
    await campaign(app, title="Brand New Vote")
    fresh = await client.get("/")
    assert "Brand New Vote" in fresh.text and "Active Votes" in fresh.text
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(text("UPDATE patt.mito_quotes SET quote = 'Changed quote'"))
    changed = (await client.get("/")).text
    assert "Changed quote" in changed and "Only quote" not in changed


async def test_a_kept_page_still_hands_a_new_visitor_the_csrf_cookie(
    app: Any, client: httpx.AsyncClient
):
    await client.get("/")  # renders and keeps the page
    client.cookies.clear()
    response = await client.get("/")
    assert response.status_code == 200
    assert any(c.startswith("patt_csrf=") for c in response.headers.get_list("set-cookie"))


async def test_a_flash_message_is_shown_once_and_never_kept(app: Any, client: httpx.AsyncClient):
    await client.get("/")  # a kept page exists
    flash = URLSafeTimedSerializer(app.state.jwt_secret, salt="patt-flash").dumps(
        {"kind": "success", "text": "You are signed out."}
    )
    client.cookies.set("patt_flash", flash)
    shown = await client.get("/")
    assert "You are signed out." in shown.text
    client.cookies.delete("patt_flash")
    assert "You are signed out." not in (await client.get("/")).text


async def test_signed_in_viewers_never_get_the_anonymous_page(
    app: Any, client: httpx.AsyncClient, factory: Factory
):
    await campaign(app, title="Members Vote")
    anonymous = (await client.get("/")).text
    assert "Login to Vote" in anonymous
    member = await factory.member(display_name="Lantern")
    login_as(client, member.token)
    page = (await client.get("/")).text
    assert "Lantern" in page and "Logout" in page and "Vote Now" in page
    assert "Login to Vote" not in page
