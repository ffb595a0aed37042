"""Trust features on the pages (40 §9.1, §9.2, §9.5): the receipt after voting and on "Your
Picks", changing a vote from the page, the audit panel and "How to verify", the no-result
banner, the published ballot list with its receipt lookup, and the admin form's new fields."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from tests.conftest import Factory, count_rows
from tests.integration.test_vote_pages import (
    T0,
    campaign_form,
    cast,
    close,
    has_id,
    login,
    make_campaign,
    vote_form,
)

from sv_common import clock

RECEIPT = r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}"


@pytest.fixture(autouse=True)
def frozen_clock(app: Any) -> Iterator[None]:
    clock.set_now(T0)
    yield


async def test_receipt_is_shown_once_after_voting_and_stays_on_your_picks(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    campaign_id, entry_ids = await make_campaign(app, officer=officer, status="live")
    voter = await factory.member(level=2)
    response = await cast(app, client, voter, campaign_id, entry_ids[:3])
    assert response.status_code == 302
    stored = await db.scalar(text("SELECT receipt FROM patt.ballots"))
    page = (await client.get(f"/vote/{campaign_id}")).text
    assert f"Your vote is in! Your receipt is {stored}" in page
    assert has_id(page, "my-receipt") and f">{stored}</code>" in page
    again = (await client.get(f"/vote/{campaign_id}")).text
    assert "Your receipt is" not in again  # the flash is shown once
    assert f">{stored}</code>" in again  # the card keeps it
    assert not has_id(again, "change-vote-link")  # votes are final by default


async def test_change_vote_from_the_page(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    campaign_id, entry_ids = await make_campaign(
        app, officer=officer, status="live", allow_vote_change=True, early_close_if_all_voted=False
    )
    voter = await factory.member(level=2)
    await cast(app, client, voter, campaign_id, entry_ids[:3])
    first = await db.scalar(text("SELECT receipt FROM patt.ballots"))
    page = (await client.get(f"/vote/{campaign_id}")).text
    assert has_id(page, "change-vote-link") and has_id(page, "change-note")
    form_page = (await client.get(f"/vote/{campaign_id}?change=1")).text
    assert has_id(form_page, "change-vote-title") and has_id(form_page, "vote-form")
    assert 'name="change" value="1"' in form_page
    assert f'<option value="{entry_ids[0]}" selected>' in form_page  # current picks preselected

    bad = await client.post(
        f"/vote/{campaign_id}", data={**vote_form(entry_ids[:2]), "change": "1"}
    )
    assert bad.status_code == 302 and bad.headers["location"] == f"/vote/{campaign_id}?change=1"
    assert "Please select exactly 3 picks." in (await client.get(bad.headers["location"])).text
    assert await db.scalar(text("SELECT receipt FROM patt.ballots")) == first

    new_order = [entry_ids[3], entry_ids[1], entry_ids[0]]
    changed = await client.post(
        f"/vote/{campaign_id}", data={**vote_form(new_order), "change": "1"}
    )
    assert changed.status_code == 302
    second = await db.scalar(text("SELECT receipt FROM patt.ballots"))
    assert second != first and await count_rows(db, "patt.ballots") == 1
    html = (await client.get(f"/vote/{campaign_id}")).text
    assert f"Your vote has been changed! Your receipt is {second}" in html
    stored = (await db.execute(text("SELECT entry_id FROM patt.votes ORDER BY rank"))).scalars()
    assert list(stored) == new_order


async def test_change_vote_page_is_refused_when_changes_are_off(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    campaign_id, entry_ids = await make_campaign(app, officer=officer, status="live")
    voter = await factory.member(level=2)
    await cast(app, client, voter, campaign_id, entry_ids[:3])
    page = (await client.get(f"/vote/{campaign_id}?change=1")).text
    assert not has_id(page, "vote-form") and has_id(page, "state-voted")
    response = await client.post(
        f"/vote/{campaign_id}", data={**vote_form(entry_ids[1:4]), "change": "1"}
    )
    assert response.status_code == 302
    html = (await client.get(response.headers["location"])).text
    assert "Vote changes are not allowed in this campaign" in html


async def test_closed_page_shows_audit_and_how_to_verify(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    campaign_id, entry_ids = await make_campaign(
        app, officer=officer, status="live", early_close_if_all_voted=False
    )
    voter = await factory.member(level=2)
    await cast(app, client, voter, campaign_id, entry_ids[:3])
    await close(app, campaign_id)
    client.cookies.clear()
    html = (await client.get(f"/vote/{campaign_id}")).text
    assert has_id(html, "audit-panel") and has_id(html, "how-to-verify")
    digest = re.search(r'id="audit-digest">([0-9a-f]{64})<', html)
    assert digest is not None
    canonical = await client.get(f"/api/v1/campaigns/{campaign_id}/ballots?format=text")
    assert hashlib.sha256(canonical.content).hexdigest() == digest.group(1)
    assert "1st 3 · 2nd 2 · 3rd 1" in html
    assert f"patt campaign recount {campaign_id}" in html
    assert f'href="/vote/{campaign_id}/ballots"' in html
    assert not has_id(html, "no-result") and "WINNER" in html


async def test_no_quorum_page_declares_no_winner(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    for _ in range(3):
        await factory.member(level=2)
    campaign_id, entry_ids = await make_campaign(
        app, officer=officer, status="live", quorum_percent=50, early_close_if_all_voted=False
    )
    voter = await factory.member(level=2)
    await cast(app, client, voter, campaign_id, entry_ids[:3])
    await close(app, campaign_id)
    html = (await client.get(f"/vote/{campaign_id}")).text
    assert has_id(html, "no-result") and has_id(html, "quorum-note")
    assert "1 of 5 eligible members voted, below the 50% quorum" in html
    assert "WINNER" not in html and "result-item--winner" not in html
    login(app, client, officer)
    edit = (await client.get(f"/admin/campaigns/{campaign_id}/edit")).text
    assert has_id(edit, "outcome-no-quorum")


async def test_ballot_list_page_finds_the_voters_receipt(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    officer = await factory.officer()
    campaign_id, entry_ids = await make_campaign(
        app, officer=officer, status="live", early_close_if_all_voted=False
    )
    voter = await factory.member(level=2)
    await cast(app, client, voter, campaign_id, entry_ids[:3])
    other = await factory.member(level=2)
    await cast(app, client, other, campaign_id, entry_ids[1:4])
    mine = await db.scalar(
        text("SELECT receipt FROM patt.ballots WHERE member_id = :m"), {"m": voter.id}
    )
    early = await client.get(f"/vote/{campaign_id}/ballots")
    assert early.status_code == 302 and early.headers["location"] == f"/vote/{campaign_id}"
    await close(app, campaign_id)

    client.cookies.clear()
    page = (await client.get(f"/vote/{campaign_id}/ballots")).text
    assert page.count('class="ballot-row') == 2 and has_id(page, "digest-matches")
    assert "ballot-row--mine" not in page  # anonymous: nothing is "yours"
    typed = mine.lower().replace("-", " ")
    found = (await client.get(f"/vote/{campaign_id}/ballots", params={"receipt": typed})).text
    assert has_id(found, "receipt-found") and "ballot-row--found" in found
    row = re.search(rf'data-receipt="{mine}">(.*?)</tr>', found, re.S)
    assert row is not None and row.group(1).index("Dragon") < row.group(1).index("Phoenix")
    missing = await client.get(f"/vote/{campaign_id}/ballots", params={"receipt": "0000-0000"})
    assert has_id(missing.text, "receipt-missing")
    invalid = await client.get(f"/vote/{campaign_id}/ballots", params={"receipt": "<b>x</b>"})
    assert has_id(invalid.text, "receipt-invalid") and "<b>x</b>" not in invalid.text
    login(app, client, voter)
    own = (await client.get(f"/vote/{campaign_id}/ballots")).text
    assert "ballot-row--mine" in own

    # a vote row changed by hand after close shows on the page too
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            text("UPDATE patt.votes SET rank = rank + 10 WHERE member_id = :m"), {"m": other.id}
        )
    tampered = (await client.get(f"/vote/{campaign_id}/ballots")).text
    assert has_id(tampered, "digest-differs")


async def test_ballot_list_page_follows_the_view_rule(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    campaign_id, _ = await make_campaign(app, officer=officer, status="live", min_rank_to_view=2)
    await close(app, campaign_id)
    client.cookies.clear()
    anonymous = await client.get(f"/vote/{campaign_id}/ballots")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["location"]
    login(app, client, await factory.member(level=1))
    assert (await client.get(f"/vote/{campaign_id}/ballots")).status_code == 403
    assert (await client.get("/vote/9999/ballots")).status_code == 404


async def test_snapshot_refusal_is_explained_on_the_page(
    app: Any, client: httpx.AsyncClient, factory: Factory
) -> None:
    officer = await factory.officer()
    campaign_id, _ = await make_campaign(
        app, officer=officer, status="live", eligibility_snapshot=True
    )
    late = await factory.member(level=2)  # registered after voting opened
    login(app, client, late)
    html = (await client.get(f"/vote/{campaign_id}")).text
    assert has_id(html, "state-view-only") and not has_id(html, "vote-form")
    assert "You were not eligible to vote when this campaign opened" in html


async def test_admin_form_sets_the_new_options(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    login(app, client, await factory.officer())
    page = (await client.get("/admin/campaigns/new")).text
    for name in ("quorum_percent", "eligibility_snapshot", "allow_vote_change"):
        assert f'name="{name}"' in page
    response = await client.post(
        "/admin/campaigns/new",
        data=campaign_form(quorum_percent="60", eligibility_snapshot="on", allow_vote_change="on"),
    )
    assert response.status_code == 302
    row = (
        await db.execute(
            text(
                "SELECT quorum_percent, eligibility_snapshot, allow_vote_change FROM patt.campaigns"
            )
        )
    ).one()
    assert tuple(row) == (60, True, True)
    edit = (await client.get(response.headers["location"])).text
    assert 'name="quorum_percent" value="60"' in edit
    assert 'name="allow_vote_change" value="on" checked' in edit


@pytest.mark.parametrize(
    ("value", "message"),
    [("0", "Quorum"), ("101", "Quorum"), ("half", "Quorum: enter a whole number.")],
)
async def test_admin_form_refuses_a_bad_quorum(
    app: Any, client: httpx.AsyncClient, factory: Factory, db: Any, value: str, message: str
) -> None:
    login(app, client, await factory.officer())
    response = await client.post(
        "/admin/campaigns/new", data=campaign_form(quorum_percent=value, description="Keep me")
    )
    assert response.status_code == 400
    assert message in response.text and "Keep me" in response.text
    assert await count_rows(db, "patt.campaigns") == 0
