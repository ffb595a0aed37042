"""The benchmark's own database (created on the embedded server or on BENCH_DATABASE_URL's
server, dropped afterwards) and set-based seeding of members, characters, availability and
registered voters."""

from __future__ import annotations

import os
import random
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from sv_common import clock
from sv_common.auth.passwords import hash_password
from sv_common.db import migrate
from sv_common.db.engine import to_sync_url
from sv_common.db.models import (
    DAYS_OF_WEEK,
    Character,
    GuildMember,
    GuildRank,
    MemberAvailability,
    User,
)
from sv_common.db.seed import seed_ranks
from sv_common.identity import classes, realms

ROOT = Path(__file__).resolve().parents[1]
BENCH_PASSWORD = "bench-password-123"
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _admin_url() -> str:
    configured = os.environ.get("BENCH_DATABASE_URL")
    if configured:
        return configured
    from sv_common.db.embedded import start_embedded

    data_dir = Path(os.environ.get("PATT_DATA_DIR") or ROOT / ".patt-data")
    return start_embedded(data_dir, database="postgres")


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def _dsn(url: str) -> str:
    return to_sync_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


class BenchDatabase:
    """A fresh, migrated database `patt_bench_<random>`; `drop()` removes it. `admin_url` names
    the server (default: BENCH_DATABASE_URL's, else the embedded one)."""

    def __init__(self, admin_url: str | None = None) -> None:
        self.admin_url = admin_url or _admin_url()
        self.name = f"patt_bench_{os.getpid()}_{secrets.token_hex(3)}"
        with psycopg.connect(_dsn(self.admin_url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = _with_database(self.admin_url, self.name)
        migrate.upgrade(self.url)

    def drop(self) -> None:
        """Drop the database (connections are closed by force)."""
        with psycopg.connect(_dsn(self.admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def letters(number: int, width: int = 4) -> str:
    """`number` written with letters only (character names allow no digits)."""
    text = ""
    for _ in range(width):
        number, digit = divmod(number, 26)
        text = _LETTERS[digit] + text
    return text


def snowflake(number: int) -> str:
    """A valid 18-digit Discord ID."""
    return f"{300000000000000000 + number}"


@dataclass
class SeededMember:
    """Ids the load needs to act as a member."""

    id: int
    user_id: int | None
    username: str
    level: int


_password_hash: str | None = None


def shared_password_hash() -> str:
    """One bcrypt hash of BENCH_PASSWORD shared by every benchmark account (hashing is slow)."""
    global _password_hash
    if _password_hash is None:
        _password_hash = hash_password(BENCH_PASSWORD)
    return _password_hash


async def rank_ids(session: AsyncSession) -> dict[int, int]:
    """Rank id by level (ranks are seeded when missing)."""
    await seed_ranks(session)
    rows = await session.execute(select(GuildRank.level, GuildRank.id))
    return {int(level): int(rank_id) for level, rank_id in rows.all()}


async def seed_members(
    session: AsyncSession,
    *,
    prefix: str,
    count: int,
    characters_each: int = 3,
    registered_every: int = 4,
    availability: bool = True,
    on_raid_roster: bool = True,
    levels: tuple[int, ...] = (1, 2, 2, 2, 3, 3, 4),
    id_offset: int = 0,
    seed: int = 1,
) -> list[SeededMember]:
    """`count` members named `<prefix>0001…` with characters, availability and (every
    `registered_every`-th, 0 = all) an account whose password is BENCH_PASSWORD."""
    rng = random.Random(seed)
    ranks = await rank_ids(session)
    now = clock.now()
    member_rows: list[dict[str, Any]] = []
    for n in range(count):
        level = levels[n % len(levels)]
        member_rows.append(
            {
                "discord_username": f"{prefix}{n:04d}",
                "display_name": f"{prefix.title()} {n:04d}",
                "discord_id": snowflake(id_offset + n),
                "rank_id": ranks.get(level, min(ranks.values())),
                "on_raid_roster": on_raid_roster,
            }
        )
    member_ids = list(
        (
            await session.scalars(
                insert(GuildMember).returning(GuildMember.id, sort_by_parameter_order=True),
                member_rows,
            )
        ).all()
    )
    registered = [i for i in range(count) if registered_every == 0 or i % registered_every == 0]
    user_ids: dict[int, int] = {}
    if registered:
        users = await session.scalars(
            insert(User).returning(User.id, sort_by_parameter_order=True),
            [{"password_hash": shared_password_hash(), "is_active": True} for _ in registered],
        )
        for index, user_id in zip(registered, users.all(), strict=True):
            user_ids[index] = int(user_id)
        await session.execute(
            update(GuildMember),
            [
                {"id": member_ids[i], "user_id": uid, "registered_at": now}
                for i, uid in user_ids.items()
            ],
        )
    if characters_each:
        specs = classes.SPECS
        character_rows = []
        for index, member_id in enumerate(member_ids):
            for k in range(characters_each):
                spec = specs[(index * characters_each + k) % len(specs)]
                name = (prefix[:3] + letters(index * characters_each + k)).title()
                character_rows.append(
                    {
                        "member_id": member_id,
                        "name": name,
                        "realm_slug": "senjin",
                        "realm_name": "Sen'jin",
                        "character_class": spec.class_name,
                        "spec": spec.spec_name,
                        "role": spec.role,
                        "main_alt": "main" if k == 0 else "alt",
                        "armory_url": realms.armory_url(name, "senjin"),
                        "origin": "manual",
                        "level": 80,
                    }
                )
        await session.execute(insert(Character), character_rows)
    if availability:
        rows = []
        for member_id in member_ids:
            updated = now - timedelta(days=rng.randint(0, 30))
            for day in DAYS_OF_WEEK:
                rows.append(
                    {
                        "member_id": member_id,
                        "day_of_week": day,
                        "available": rng.random() < 0.6,
                        "notes": "",
                        "auto_signup": rng.random() < 0.3,
                        "wants_reminders": rng.random() < 0.2,
                        "updated_at": updated,
                    }
                )
        await session.execute(insert(MemberAvailability), rows)
    # planner statistics, as autovacuum would have gathered on a guild that has been running
    await session.execute(
        text("ANALYZE common.guild_members, common.characters, common.member_availability")
    )
    levels_of = [levels[n % len(levels)] for n in range(count)]
    return [
        SeededMember(
            id=int(member_ids[i]),
            user_id=user_ids.get(i),
            username=member_rows[i]["discord_username"],
            level=levels_of[i],
        )
        for i in range(count)
    ]


async def seed_voters(
    session: AsyncSession, *, prefix: str, count: int, level: int = 2, id_offset: int = 0
) -> list[SeededMember]:
    """`count` registered members `<prefix>0000…` (account with BENCH_PASSWORD, no characters,
    not on the raid roster) in two set-based statements: accounts, then members."""
    ranks = await rank_ids(session)
    rows = await session.execute(
        text(
            """
            WITH accounts AS (
                INSERT INTO common.users (password_hash, is_active)
                SELECT :password_hash, true FROM generate_series(1, :count)
                RETURNING id
            ), numbered AS (
                SELECT id AS user_id, row_number() OVER (ORDER BY id) - 1 AS n FROM accounts
            )
            INSERT INTO common.guild_members
                (user_id, discord_username, display_name, discord_id, rank_id, on_raid_roster,
                 registered_at)
            SELECT user_id, :prefix || lpad(n::text, 4, '0'),
                   initcap(:prefix) || ' ' || lpad(n::text, 4, '0'),
                   (:first_snowflake + n)::text, :rank_id, false, now()
            FROM numbered
            RETURNING id, user_id, discord_username
            """
        ),
        {
            "password_hash": shared_password_hash(),
            "count": count,
            "prefix": prefix,
            "first_snowflake": int(snowflake(id_offset)),
            "rank_id": ranks.get(level, min(ranks.values())),
        },
    )
    await session.execute(text("ANALYZE common.users, common.guild_members"))
    members = [
        SeededMember(id=int(member_id), user_id=int(user_id), username=str(name), level=level)
        for member_id, user_id, name in rows.all()
    ]
    members.sort(key=lambda m: m.username)
    return members


async def copy_rows(
    session: AsyncSession, table: str, columns: list[str], records: list[tuple[Any, ...]]
) -> None:
    """Bulk-load `records` into `schema.table` with COPY (asyncpg), else a multi-row INSERT."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    copy = getattr(raw.driver_connection, "copy_records_to_table", None)
    schema, name = table.split(".")
    if copy is not None:
        await copy(name, schema_name=schema, columns=columns, records=records)
        return
    placeholders = ", ".join(f":{c}" for c in columns)
    await session.execute(
        text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"),
        [dict(zip(columns, record, strict=True)) for record in records],
    )
