"""`patt doctor`: check an installation and say in words what to fix.

Each check returns findings: `ok`, `info` (not configured, on purpose or not), `warn` (works,
but look at it) or `fail` (something is wrong: the command exits non-zero). Checks never print
secrets; outside services are called only when configured.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum

import httpx
from pydantic import ValidationError

from patt.config import Settings, describe_settings_error, production_problems

DISCORD_API = "https://discord.com/api/v10"
# Application flags meaning the Server Members intent is enabled (the bot needs it).
MEMBERS_INTENT_FLAGS = (1 << 14) | (1 << 15)
CLOCK_TOLERANCE_SECONDS = 30
DISK_FAIL_BYTES = 500 * 1024**2
DISK_WARN_BYTES = 2 * 1024**3
NEW_SECRET = 'python3 -c "import secrets; print(secrets.token_urlsafe(48))"'


class Level(StrEnum):
    OK = "ok"
    INFO = "info"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    """One line of the report, with what to do when it is not ok."""

    level: Level
    area: str
    text: str
    fix: str = ""


@dataclass
class Context:
    """What the checks share: settings, an HTTP client, the database URL once known, and the
    offsets between this clock and others' (seconds, others minus ours)."""

    settings: Settings
    http: httpx.Client
    database_url: Callable[[Settings], str]
    clock_offsets: dict[str, float]


PRODUCTION_FIXES = {
    "JWT_SECRET_KEY": f"generate one with {NEW_SECRET} and set JWT_SECRET_KEY to it",
    "DATABASE_URL": "put the real database password in DATABASE_URL",
    "PATT_API_KEY": f"generate one with {NEW_SECRET}, or leave PATT_API_KEY empty",
    "PUBLIC_BASE_URL": "set PUBLIC_BASE_URL to the site's https:// address",
    "COOKIE_SECURE": "remove COOKIE_SECURE (it defaults to true in production) or set it to true",
    "DISCORD_BACKEND": "remove DISCORD_BACKEND (default auto) or set it to null",
}


def load_settings() -> tuple[Settings | None, list[Finding]]:
    """Read the settings; a bad value becomes a finding naming the variable."""
    try:
        settings = Settings()
    except ValidationError as exc:
        return None, [
            Finding(
                Level.FAIL,
                "configuration",
                describe_settings_error(exc),
                "correct that variable in the environment file (or .env) and run doctor again",
            )
        ]
    return settings, [
        Finding(Level.OK, "configuration", f"settings read (APP_ENV={settings.app_env})")
    ]


def check_production(ctx: Context) -> list[Finding]:
    settings = ctx.settings
    if not settings.is_production:
        return [
            Finding(
                Level.INFO,
                "production",
                f"APP_ENV={settings.app_env}: the production safety checks do not apply",
                "on a public server set APP_ENV=production",
            )
        ]
    problems = production_problems(settings)
    if not problems:
        return [Finding(Level.OK, "production", "production safety checks pass")]
    return [
        Finding(
            Level.FAIL,
            "production",
            problem,
            next((fix for name, fix in PRODUCTION_FIXES.items() if problem.startswith(name)), ""),
        )
        for problem in problems
    ]


def check_database(ctx: Context) -> list[Finding]:
    """The URL parses, the server answers, migrations are at head, ranks and a leader exist."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from sv_common.db import migrate
    from sv_common.db.engine import to_async_url
    from sv_common.db.libpq import connect

    configured = ctx.settings.database_url
    if configured:
        try:
            to_async_url(configured)
            shown = make_url(configured).render_as_string(hide_password=True)
        except (ArgumentError, ValueError):
            return [
                Finding(
                    Level.FAIL,
                    "database",
                    "DATABASE_URL is not a PostgreSQL URL",
                    "write it as postgresql://USER:PASSWORD@HOST:5432/DBNAME",
                )
            ]
    else:
        shown = f"the embedded PostgreSQL in {ctx.settings.patt_data_dir.resolve()}"
    try:
        url = ctx.database_url(ctx.settings)
        started = time.time()
        with connect(url, connect_timeout=5) as connection:
            row = connection.execute("SELECT now(), current_setting('server_version')").fetchone()
        assert row is not None
        ctx.clock_offsets["database server"] = row[0].timestamp() - (started + time.time()) / 2
    except Exception as exc:  # any failure to reach the server is this finding
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        return [
            Finding(
                Level.FAIL,
                "database",
                f"cannot connect to {shown}: {reason}",
                "check DATABASE_URL (host, port, user, password, database name) and that "
                "PostgreSQL runs (systemctl status postgresql)"
                if configured
                else "run `patt db status`; the embedded server's log is PATT_DATA_DIR/pg/log",
            )
        ]
    findings = [Finding(Level.OK, "database", f"{shown} answers (PostgreSQL {row[1]})")]
    current, head = migrate.current_revision(url), migrate.head_revision()
    known = {script.revision for script in migrate.all_revisions()}
    if current == head:
        findings.append(Finding(Level.OK, "migrations", f"at the newest revision ({head})"))
    elif current is None:
        findings.append(
            Finding(
                Level.FAIL,
                "migrations",
                "the database has no tables yet",
                "run `patt db upgrade` (or start `patt serve`, which applies migrations)",
            )
        )
    elif current in known:
        findings.append(
            Finding(
                Level.FAIL,
                "migrations",
                f"at revision {current}; this version of patt needs {head}",
                "take a backup (`patt backup`), then run `patt db upgrade`",
            )
        )
    else:
        findings.append(
            Finding(
                Level.FAIL,
                "migrations",
                f"at revision {current}, which this version of patt does not know "
                "(a newer version ran on this database)",
                "install that newer version again, or restore a backup made for this version",
            )
        )
    if current == head:
        findings.extend(_accounts(ctx, url))
    return findings


def _accounts(ctx: Context, url: str) -> list[Finding]:
    from sv_common.db.libpq import connect

    with connect(url, connect_timeout=5) as connection:
        ranks = connection.execute("SELECT count(*) FROM common.guild_ranks").fetchone()
        leaders = connection.execute(
            "SELECT count(*) FROM common.guild_members m JOIN common.users u ON u.id = m.user_id"
            " JOIN common.guild_ranks r ON r.id = m.rank_id"
            " WHERE u.is_active AND r.level >= %s",
            (ctx.settings.admin_rank_level,),
        ).fetchone()
    found: list[Finding] = []
    if not ranks or not ranks[0]:
        found.append(Finding(Level.FAIL, "accounts", "no ranks in the database", "run `patt seed`"))
    if not leaders or not leaders[0]:
        found.append(
            Finding(
                Level.WARN,
                "accounts",
                "no officer or Guild Leader account yet",
                "run `patt create-admin`, or open the /setup link `patt serve` prints",
            )
        )
    else:
        found.append(Finding(Level.OK, "accounts", f"{leaders[0]} active officer account(s)"))
    return found


def _note_clock(ctx: Context, source: str, response: httpx.Response, sent: float) -> None:
    header = response.headers.get("date")
    if not header:
        return
    try:
        theirs = parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError):
        return
    ctx.clock_offsets[source] = theirs - (sent + time.time()) / 2


def _unreachable(service: str, exc: Exception, status_page: str) -> Finding:
    return Finding(
        Level.FAIL,
        service.lower(),
        f"cannot reach {service}: {type(exc).__name__}",
        f"check this server's internet access, DNS and firewall; if those are fine {service} "
        f"itself may be down ({status_page})",
    )


def check_discord(ctx: Context) -> list[Finding]:
    """The bot token is accepted, the Server Members intent is on, the bot is in the server."""
    settings = ctx.settings
    if settings.discord_backend != "auto":
        return [
            Finding(
                Level.INFO,
                "discord",
                f"DISCORD_BACKEND={settings.discord_backend}: the real Discord is not used",
            )
        ]
    token = settings.discord_bot_token.strip()
    if not token:
        return [
            Finding(
                Level.INFO,
                "discord",
                "not configured (DISCORD_BOT_TOKEN is empty): no bot, role sync or invite DMs",
                "optional; see docs/DISCORD-BOT-SETUP.md",
            )
        ]
    headers = {"Authorization": f"Bot {token}"}
    try:
        sent = time.time()
        me = ctx.http.get(f"{DISCORD_API}/users/@me", headers=headers)
        _note_clock(ctx, "Discord", me, sent)
        if me.status_code == 401:
            return [
                Finding(
                    Level.FAIL,
                    "discord",
                    "Discord rejects DISCORD_BOT_TOKEN",
                    "reset the token on the Bot page of the Discord developer portal and set "
                    "DISCORD_BOT_TOKEN to the new one",
                )
            ]
        if me.status_code != 200:
            return [
                Finding(
                    Level.FAIL,
                    "discord",
                    f"Discord answered {me.status_code} to the token check",
                    "try again later; see https://discordstatus.com",
                )
            ]
        findings = [
            Finding(Level.OK, "discord", f"bot token accepted (bot {me.json().get('username')})")
        ]
        app = ctx.http.get(f"{DISCORD_API}/applications/@me", headers=headers)
        if app.status_code == 200 and not int(app.json().get("flags") or 0) & MEMBERS_INTENT_FLAGS:
            findings.append(
                Finding(
                    Level.FAIL,
                    "discord",
                    "the Server Members intent is off",
                    "turn on Server Members Intent on the Bot page of the developer portal",
                )
            )
        findings.extend(_discord_guild(ctx, headers))
        return findings
    except httpx.HTTPError as exc:
        return [_unreachable("Discord", exc, "https://discordstatus.com")]


def _discord_guild(ctx: Context, headers: dict[str, str]) -> list[Finding]:
    guild_id = ctx.settings.discord_guild_id.strip()
    if not guild_id.isdigit():
        return [
            Finding(
                Level.FAIL,
                "discord",
                "DISCORD_GUILD_ID is empty or not a number",
                "copy the server ID (Developer Mode → right-click the server → Copy Server ID)",
            )
        ]
    guild = ctx.http.get(f"{DISCORD_API}/guilds/{guild_id}", headers=headers)
    if guild.status_code != 200:
        return [
            Finding(
                Level.FAIL,
                "discord",
                f"the bot cannot see server {guild_id} (Discord answered {guild.status_code})",
                "invite the bot to that server (docs/DISCORD-BOT-SETUP.md) or fix DISCORD_GUILD_ID",
            )
        ]
    findings = [Finding(Level.OK, "discord", f"bot is in server {guild.json().get('name')!r}")]
    channel_id = ctx.settings.patt_audit_channel_id.strip()
    if channel_id:
        channel = ctx.http.get(f"{DISCORD_API}/channels/{channel_id}", headers=headers)
        if channel.status_code == 200:
            findings.append(Finding(Level.OK, "discord", "the audit channel is visible to the bot"))
        else:
            findings.append(
                Finding(
                    Level.FAIL,
                    "discord",
                    f"the bot cannot see PATT_AUDIT_CHANNEL_ID {channel_id} "
                    f"(Discord answered {channel.status_code})",
                    "give the bot View Channel and Send Messages there, or fix the ID",
                )
            )
    return findings


def check_blizzard(ctx: Context) -> list[Finding]:
    """The client credentials get a token and the guild's roster is found."""
    from patt.guild_sync.runtime import blizzard_config
    from sv_common.guild_sync.blizzard_client import roster_path

    settings = ctx.settings
    if not settings.blizzard_configured:
        return [
            Finding(
                Level.INFO,
                "blizzard",
                "not configured (BLIZZARD_CLIENT_ID / BLIZZARD_CLIENT_SECRET empty): no roster "
                "sync from the Blizzard API",
                "optional; create a client at https://develop.battle.net/access/clients",
            )
        ]
    config = blizzard_config(settings)
    try:
        sent = time.time()
        token = ctx.http.post(
            config.oauth_url,
            data={"grant_type": "client_credentials"},
            auth=(config.client_id, config.client_secret),
        )
        _note_clock(ctx, "Blizzard", token, sent)
        access = token.json().get("access_token") if token.status_code == 200 else None
        if not access:
            return [
                Finding(
                    Level.FAIL,
                    "blizzard",
                    f"Blizzard refuses BLIZZARD_CLIENT_ID / BLIZZARD_CLIENT_SECRET "
                    f"(answer {token.status_code})",
                    "copy both from your client at https://develop.battle.net/access/clients "
                    "(create a new secret if needed)",
                )
            ]
        path = roster_path(settings.patt_guild_realm_slug, settings.patt_guild_name_slug)
        roster = ctx.http.get(
            f"{config.base_url}{path}",
            params={"namespace": config.namespace, "locale": config.locale},
            headers={"Authorization": f"Bearer {access}"},
        )
    except httpx.HTTPError as exc:
        return [_unreachable("Blizzard", exc, "https://us.battle.net/support/en/article/000230076")]
    except ValueError:
        return [Finding(Level.FAIL, "blizzard", "Blizzard's token answer was not JSON")]
    ok = Finding(Level.OK, "blizzard", "client credentials accepted")
    if roster.status_code == 200:
        members = len(roster.json().get("members") or [])
        return [ok, Finding(Level.OK, "blizzard", f"guild roster found ({members} characters)")]
    if roster.status_code == 404:
        return [
            ok,
            Finding(
                Level.FAIL,
                "blizzard",
                f"no guild {settings.patt_guild_name_slug!r} on realm "
                f"{settings.patt_guild_realm_slug!r} in region {config.region}",
                "check PATT_GUILD_REALM_SLUG, PATT_GUILD_NAME_SLUG and BLIZZARD_REGION",
            ),
        ]
    return [
        ok,
        Finding(
            Level.FAIL,
            "blizzard",
            f"the roster request answered {roster.status_code}",
            "try again later; Blizzard's API may be down",
        ),
    ]


def check_clock(ctx: Context) -> list[Finding]:
    """This clock against the others seen (database, Discord, Blizzard) and NTP."""
    findings: list[Finding] = []
    for source, offset in ctx.clock_offsets.items():
        if abs(offset) > CLOCK_TOLERANCE_SECONDS:
            findings.append(
                Finding(
                    Level.FAIL,
                    "clock",
                    f"this server's clock is {abs(offset):.0f} s "
                    f"{'behind' if offset > 0 else 'ahead of'} {source}'s",
                    "turn on time synchronisation: sudo timedatectl set-ntp true",
                )
            )
    synced = _ntp_synchronised()
    if synced is False:
        findings.append(
            Finding(
                Level.WARN,
                "clock",
                "the system clock is not synchronised (timedatectl: NTPSynchronized=no)",
                "sudo timedatectl set-ntp true",
            )
        )
    if not findings and ctx.clock_offsets:
        compared = ", ".join(ctx.clock_offsets)
        findings.append(
            Finding(Level.OK, "clock", f"agrees within {CLOCK_TOLERANCE_SECONDS} s with {compared}")
        )
    elif not findings:
        findings.append(Finding(Level.INFO, "clock", "nothing answered to compare the clock with"))
    return findings


def _ntp_synchronised() -> bool | None:
    if not shutil.which("timedatectl"):
        return None
    try:
        result = subprocess.run(
            ["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = result.stdout.strip()
    return {"yes": True, "no": False}.get(value) if result.returncode == 0 else None


def check_disk(ctx: Context) -> list[Finding]:
    """Free space and write access where the data directory lives."""
    data_dir = ctx.settings.patt_data_dir.expanduser().resolve()
    existing = next(p for p in [data_dir, *data_dir.parents] if p.exists())
    usage = shutil.disk_usage(existing)
    free = f"{usage.free / 1024**3:.1f} GiB free of {usage.total / 1024**3:.1f} GiB"
    findings: list[Finding] = []
    if usage.free < DISK_FAIL_BYTES:
        findings.append(
            Finding(
                Level.FAIL,
                "disk",
                f"almost full at {existing}: {free}",
                "free space (old backups, logs: journalctl --vacuum-size=200M)",
            )
        )
    elif usage.free < DISK_WARN_BYTES or usage.free < usage.total * 0.1:
        findings.append(Finding(Level.WARN, "disk", f"getting full at {existing}: {free}"))
    else:
        findings.append(Finding(Level.OK, "disk", f"{free} at {existing}"))
    if not os.access(existing, os.W_OK):
        findings.append(
            Finding(
                Level.FAIL,
                "disk",
                f"PATT_DATA_DIR {data_dir} is not writable by this user",
                "chown it to the service user (e.g. sudo chown -R patt: /var/lib/patt)",
            )
        )
    return findings


def run(
    *,
    http: httpx.Client | None = None,
    database_url: Callable[[Settings], str] | None = None,
    settings: Settings | None = None,
) -> list[Finding]:
    """Every check in order; the settings are read here unless given."""
    findings: list[Finding] = []
    if settings is None:
        settings, findings = load_settings()
        if settings is None:
            return findings
    client = http or httpx.Client(timeout=10, headers={"User-Agent": "patt-doctor"})
    ctx = Context(
        settings=settings,
        http=client,
        database_url=database_url or _configured_url,
        clock_offsets={},
    )
    try:
        for check in (
            check_production,
            check_database,
            check_discord,
            check_blizzard,
            check_addon_key,
            check_clock,
            check_disk,
        ):
            findings.extend(check(ctx))
    finally:
        if http is None:
            client.close()
    return findings


def _configured_url(settings: Settings) -> str:
    if not settings.database_url:
        raise RuntimeError("no DATABASE_URL")
    return settings.database_url


def check_addon_key(ctx: Context) -> list[Finding]:
    """Whether addon uploads are on (the key's strength is a production check)."""
    if ctx.settings.patt_api_key:
        return [Finding(Level.OK, "addon", "PATT_API_KEY is set: addon uploads are accepted")]
    return [
        Finding(
            Level.INFO,
            "addon",
            "PATT_API_KEY is empty: addon uploads are off",
            f"optional; generate one with {NEW_SECRET}",
        )
    ]


def summary(findings: list[Finding]) -> tuple[str, int]:
    """The closing line and the exit code (1 when anything failed)."""
    failed = sum(1 for f in findings if f.level is Level.FAIL)
    warned = sum(1 for f in findings if f.level is Level.WARN)
    if failed:
        return (
            f"{failed} problem(s) to fix" + (f", {warned} warning(s)" if warned else "") + ".",
            1,
        )
    return ("Everything checked is fine" + (f" ({warned} warning(s))" if warned else "") + ".", 0)


def as_lines(findings: list[Finding]) -> list[str]:
    """The report, one finding per line, its fix indented below."""
    marks = {Level.OK: "ok  ", Level.INFO: "--  ", Level.WARN: "WARN", Level.FAIL: "FAIL"}
    lines: list[str] = []
    for finding in findings:
        lines.append(f"{marks[finding.level]}  {finding.area}: {finding.text}")
        if finding.fix and finding.level is not Level.OK:
            lines.append(f"      fix: {finding.fix}")
    return lines
