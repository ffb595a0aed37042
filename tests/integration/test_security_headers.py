"""Security headers (20 §8): every page is drawn with the demo guild loaded, as a visitor, a
member, a member who voted and the Guild Leader, and must carry the strict
Content-Security-Policy and hold no inline code (no <script> blocks, <style> blocks, style=
or on…= attributes, javascript: links); templates and static scripts are scanned too.
HSTS is sent only over HTTPS (direct or through a trusted proxy) or when the site is
HTTPS-only; /api/docs has its own, relaxed policy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.conftest import ROOT

from patt.core import middleware
from patt.demo import loader as demo
from sv_common.auth import setup_token
from sv_common.auth.jwt import create_access_token
from sv_common.db.engine import transaction
from sv_common.db.models import Ballot, Campaign, GuildMember, GuildRank
from sv_common.identity.integrity.checker import run_integrity_check
from sv_common.identity.matching.engine import run_matching

TEMPLATE_ROOT = ROOT / "src" / "patt"
STATIC_JS = [
    *sorted((ROOT / "src/patt/static/js").glob("*.js")),
    *sorted((ROOT / "src/patt/static/legacy").glob("*.js")),
]
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href"}
CSRF = "security-headers-csrf"


# --------------------------------------------------------------------------- HTML checks
class InlineCodeFinder(HTMLParser):
    """Collects every piece of inline code a strict CSP would block (or that needs a relaxed one)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): (value or "") for name, value in attrs}
        for name, value in values.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…> event handler attribute")
            elif name == "style":
                self.problems.append(f"<{tag} style=…> inline style attribute")
            elif name in URL_ATTRIBUTES and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:…> script URL")
        if tag == "style":
            self.problems.append("<style> block")
        elif tag == "script":
            source = values.get("src")
            if source is None:
                # A JSON data island is never executed, so the CSP does not apply to it.
                if values.get("type", "").lower() != "application/json":
                    self.problems.append("inline <script> block")
            elif not _same_origin(source):
                self.problems.append(f"<script src={source}> from another origin")
        elif tag == "link" and "stylesheet" in values.get("rel", "").lower():
            if not _same_origin(values.get("href", "")):
                self.problems.append(f"<link href={values.get('href')}> style from another origin")


def _same_origin(url: str) -> bool:
    return url.startswith("/") and not url.startswith("//")


def inline_code_in(html: str) -> list[str]:
    """Every inline script, style or handler in a page."""
    finder = InlineCodeFinder()
    finder.feed(html)
    finder.close()
    return finder.problems


def test_the_checker_finds_each_kind_of_inline_code() -> None:
    page = (
        "<html><head><style>p{}</style><script>alert(1)</script>"
        '<script src="https://cdn.example/x.js"></script>'
        '<link rel="stylesheet" href="https://cdn.example/x.css"></head>'
        '<body onload="go()"><p style="color:red">x</p><a href=" JavaScript:go()">y</a>'
        '<script type="application/json" id="d">{"a": 1}</script>'
        '<script src="/static/js/site.js"></script></body></html>'
    )
    problems = inline_code_in(page)
    assert len(problems) == 7, problems
    assert inline_code_in('<script type="application/json">{}</script><p class="x">ok</p>') == []


# ------------------------------------------------------------------------- the demo guild
@dataclass
class Viewer:
    """Who draws the pages: no cookie (a visitor) or a member's login cookie."""

    name: str
    member_id: int | None = None
    user_id: int | None = None
    level: int = 0


@dataclass
class DemoGuild:
    viewers: list[Viewer]
    campaign_ids: list[int]


async def _viewer(session: Any, name: str, member_id: int) -> Viewer:
    member = await session.get(GuildMember, member_id)
    await session.refresh(member, ["rank"])
    return Viewer(name, member.id, member.user_id, member.rank.level)


@pytest.fixture
async def demo_guild(app: Any) -> DemoGuild:
    """The demo guild, one matching run and one integrity check (suggestions and issues)."""
    async with transaction(app.state.sessionmaker) as session:
        counts = await demo.load_into(session)
        await run_matching(session)
        await run_integrity_check(session)
    async with transaction(app.state.sessionmaker) as session:
        ids = {
            username: member_id
            for username, member_id in (
                await session.execute(select(GuildMember.discord_username, GuildMember.id))
            ).all()
        }
        voter_id = await session.scalar(  # a voter below Officer: no admin link
            select(Ballot.member_id)
            .join(GuildMember, GuildMember.id == Ballot.member_id)
            .join(GuildRank, GuildRank.id == GuildMember.rank_id)
            .where(Ballot.campaign_id == counts["live"], GuildRank.level < 4)
            .limit(1)
        )
        assert voter_id is not None
        viewers = [
            Viewer("visitor"),
            await _viewer(session, "member", ids[demo.DEMO_ACCOUNTS[2][0]]),
            await _viewer(session, "voter", voter_id),
            await _viewer(session, "leader", ids[demo.DEMO_ACCOUNTS[5][0]]),
        ]
        campaign_ids = list((await session.scalars(select(Campaign.id))).all())
    return DemoGuild(viewers, sorted(campaign_ids))


def _page_routes(routes: list[Any]) -> Iterator[Any]:
    """Every route, routers included (FastAPI keeps included routers as one entry)."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from _page_routes(original.routes)
        else:
            yield route


def page_paths(app: Any) -> list[str]:
    """Every GET route outside /api and /static (each page, redirect and file of the site)."""
    paths = []
    for route in _page_routes(app.routes):
        methods = getattr(route, "methods", None) or set()
        path = getattr(route, "path", "")
        # /metrics is the Prometheus text endpoint (off in tests), not a page
        if "GET" in methods and not path.startswith(("/api/", "/static", "/metrics")):
            paths.append(path)
    return sorted(set(paths))


def urls_for(path: str, guild: DemoGuild) -> list[str]:
    """The URLs that draw a route: one per demo campaign for campaign pages."""
    parameters = re.findall(r"\{(\w+)\}", path)
    if not parameters:
        return [path]
    assert parameters == ["campaign_id"], (
        f"{path}: teach urls_for() which demo rows fill {parameters} so the page is checked"
    )
    return [path.replace("{campaign_id}", str(cid)) for cid in guild.campaign_ids]


def sign_in(app: Any, client: httpx.AsyncClient, viewer: Viewer) -> None:
    client.cookies.clear()
    client.cookies.set("patt_csrf", CSRF)
    if viewer.member_id is not None:
        token = create_access_token(
            app.state.jwt_secret,
            user_id=viewer.user_id or 0,
            member_id=viewer.member_id,
            rank_level=viewer.level,
            expires_minutes=60,
        )
        client.cookies.set("patt_token", token)


def assert_strict_headers(response: httpx.Response, label: str) -> None:
    headers = response.headers
    assert headers.get("content-security-policy") == middleware.CSP, label
    assert headers.get("x-content-type-options") == "nosniff", label
    assert headers.get("x-frame-options") == "DENY", label
    assert headers.get("referrer-policy") == "same-origin", label
    assert "strict-transport-security" not in headers, label  # plain HTTP, not HTTPS-only


async def test_every_page_has_the_strict_policy_and_no_inline_code(
    app: Any, client: httpx.AsyncClient, demo_guild: DemoGuild
) -> None:
    paths = page_paths(app)
    assert {"/", "/login", "/vote/{campaign_id}", "/admin/roster", "/raid-admin"} <= set(paths)
    drawn: dict[str, set[str]] = {}  # page → viewers who got it as a 200 HTML page
    moved: set[str] = set()  # routes that redirected someone (old URL forms, /admin, /login)
    problems: list[str] = []
    for viewer in demo_guild.viewers:
        sign_in(app, client, viewer)
        for path in paths:
            for url in urls_for(path, demo_guild):
                response = await client.get(url)
                label = f"{viewer.name} GET {url} → {response.status_code}"
                assert response.status_code < 500, label
                assert_strict_headers(response, label)
                if response.is_redirect:
                    moved.add(path)
                if not response.headers.get("content-type", "").startswith("text/html"):
                    continue
                problems += [f"{label}: {found}" for found in inline_code_in(response.text)]
                if response.status_code == 200:
                    drawn.setdefault(path, set()).add(viewer.name)
    assert problems == []
    # Every page was drawn by someone (/setup only in setup mode: its own test); the officer
    # pages by the Guild Leader with the demo data, the vote page by a member and a voter.
    never_drawn = set(paths) - set(drawn) - {"/patt-config.json", "/setup"}
    assert never_drawn <= moved, f"pages no viewer could draw: {never_drawn - moved}"
    assert {"/", "/login", "/roster-view", "/raid-admin", "/admin/identity/orphans"} <= set(drawn)
    assert all("leader" in who for path, who in drawn.items() if path.startswith("/admin"))
    assert {"member", "voter", "leader"} <= drawn["/vote/{campaign_id}"]


async def test_logout_setup_and_error_pages_hold_no_inline_code(
    app: Any, client: httpx.AsyncClient, demo_guild: DemoGuild
) -> None:
    leader = demo_guild.viewers[-1]
    sign_in(app, client, leader)
    for url in ("/logout", "/no-such-page", "/vote/999999"):
        response = await client.get(url)
        label = f"GET {url} → {response.status_code}"
        assert_strict_headers(response, label)
        assert inline_code_in(response.text) == [], label
    member = demo_guild.viewers[1]
    sign_in(app, client, member)
    forbidden = await client.get("/admin/roster")
    assert forbidden.status_code == 403
    assert_strict_headers(forbidden, "403 page")
    assert inline_code_in(forbidden.text) == []


async def test_the_setup_page_holds_no_inline_code(app: Any, client: httpx.AsyncClient) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        await setup_token.arm(session, setup_token.token_hash("setup-token-for-csp"))
    response = await client.get("/setup", params={"token": "setup-token-for-csp"})
    assert response.status_code == 200
    assert 'name="password"' in response.text or "password" in response.text.lower()
    assert_strict_headers(response, "setup page")
    assert inline_code_in(response.text) == []


# ------------------------------------------------------------------ sources, not pages
def _templates() -> list[Path]:
    return sorted(TEMPLATE_ROOT.rglob("*.html"))


def test_no_template_holds_inline_code() -> None:
    """Branches a test does not draw are covered here: the template sources themselves."""
    templates = _templates()
    assert len(templates) > 20
    problems = []
    for path in templates:
        source = path.read_text(encoding="utf-8")
        # Jinja comments and expressions are not HTML; blank them so the parser sees markup.
        markup = re.sub(r"\{#.*?#\}", "", source, flags=re.S)
        markup = re.sub(r"\{\{.*?\}\}", "x", markup, flags=re.S)
        markup = re.sub(r"\{%.*?%\}", " ", markup, flags=re.S)
        problems += [f"{path.relative_to(ROOT)}: {found}" for found in inline_code_in(markup)]
    assert problems == []


def test_static_scripts_need_neither_eval_nor_inline_markup() -> None:
    """The policy has no 'unsafe-eval', and markup built from strings could carry handlers."""
    assert STATIC_JS
    forbidden = re.compile(
        r"\beval\s*\(|new\s+Function\s*\(|\.innerHTML\s*=|\.outerHTML\s*=|insertAdjacentHTML|"
        r"document\.write|setAttribute\(\s*['\"](style|on\w+)['\"]|set(Timeout|Interval)\(\s*['\"]"
    )
    problems = [
        f"{path.name}:{number}: {line.strip()}"
        for path in STATIC_JS
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if forbidden.search(line)
    ]
    assert problems == []


# ----------------------------------------------------------------------- /api/docs
async def test_api_docs_has_its_own_policy_and_no_inline_script(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/docs")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert policy == middleware.DOCS_CSP
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert "'unsafe-inline'" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'"
    assert response.headers["x-frame-options"] == "DENY"
    finder = InlineCodeFinder()
    finder.feed(response.text)
    # Swagger UI's own files come from its CDN, which this policy (only) allows.
    assert [p for p in finder.problems if "another origin" not in p] == []
    assert '<script src="/static/js/api-docs.js">' in response.text
    assert 'data-openapi-url="/api/openapi.json"' in response.text
    assert (await client.get("/static/js/api-docs.js")).status_code == 200
    schema = await client.get("/api/openapi.json")
    assert schema.headers["content-security-policy"] == middleware.CSP
    assert "/api/docs" not in schema.json()["paths"]


# --------------------------------------------------------------------------------- HSTS
HSTS = "strict-transport-security"


def _client(app: Any, *, scheme: str = "http", peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(peer, 5000))
    return httpx.AsyncClient(transport=transport, base_url=f"{scheme}://guild.test")


async def test_no_hsts_over_plain_http_in_development(app: Any) -> None:
    async with _client(app) as http:
        assert HSTS not in (await http.get("/login")).headers
        assert HSTS not in (await http.get("/api/health")).headers


async def test_hsts_when_the_request_came_over_https(app: Any) -> None:
    async with _client(app, scheme="https") as http:
        response = await http.get("/login")
    assert response.headers[HSTS] == "max-age=31536000"


async def test_hsts_when_a_trusted_proxy_says_https(app: Any) -> None:
    forwarded = {"X-Forwarded-Proto": "https"}
    async with _client(app, peer="127.0.0.1") as http:
        assert (await http.get("/login", headers=forwarded)).headers[HSTS] == "max-age=31536000"
        # the value the nearest proxy appended counts
        mixed = {"X-Forwarded-Proto": "https, http"}
        assert HSTS not in (await http.get("/login", headers=mixed)).headers
        two_lines = [("X-Forwarded-Proto", "http"), ("X-Forwarded-Proto", "https")]
        assert HSTS in (await http.get("/login", headers=two_lines)).headers
    # the same header from a peer that is not a trusted proxy is ignored
    async with _client(app, peer="203.0.113.9") as http:
        assert HSTS not in (await http.get("/login", headers=forwarded)).headers


async def test_hsts_on_every_response_of_an_https_only_site(app: Any) -> None:
    app.state.settings = app.state.settings.model_copy(
        update={"https_only": True, "hsts_seconds": 600}
    )
    async with _client(app) as http:
        for url in ("/", "/api/health", "/static/css/main.css", "/no-such-page"):
            assert (await http.get(url)).headers[HSTS] == "max-age=600", url


async def test_hsts_seconds_zero_never_sends_it(app: Any) -> None:
    app.state.settings = app.state.settings.model_copy(
        update={"https_only": True, "hsts_seconds": 0}
    )
    async with _client(app, scheme="https") as http:
        assert HSTS not in (await http.get("/login")).headers


async def test_oversized_bodies_answered_early_still_carry_the_headers(app: Any) -> None:
    async with _client(app, scheme="https") as http:
        response = await http.post(
            "/api/v1/auth/login",
            content=b"x" * (middleware.DEFAULT_BODY_LIMIT + 1),
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert response.headers["content-security-policy"] == middleware.CSP
    assert response.headers[HSTS] == "max-age=31536000"


# ----------------------------------------------------------------------- secure cookies
async def test_cookies_are_secure_when_cookie_secure_is_on(
    app: Any, client: httpx.AsyncClient, demo_guild: DemoGuild
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"cookie_secure": True})
    client.base_url = httpx.URL("https://guild.test")  # the browser sends Secure cookies back
    login_page = await client.get("/login")
    csrf_cookie = login_page.headers["set-cookie"]
    assert csrf_cookie.startswith("patt_csrf=") and "Secure" in csrf_cookie
    username, password = demo.DEMO_ACCOUNTS[5]
    response = await client.post(
        "/login",
        data={
            "discord_username": username,
            "password": password,
            "csrf_token": client.cookies["patt_csrf"],
        },
    )
    assert response.status_code == 302
    session_cookie = [c for c in response.headers.get_list("set-cookie") if "patt_token=" in c]
    assert session_cookie and all(
        "Secure" in c and "HttpOnly" in c and "SameSite=lax" in c for c in session_cookie
    )
