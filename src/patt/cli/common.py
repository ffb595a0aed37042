"""What every `patt` command shares: errors with exit codes, the database URL (configured or
embedded), migrations with progress lines, and running async work in one transaction."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from patt.config import Settings

# Exit codes of the sync commands beyond 0 success / 1 error / 2 bad usage.
EXIT_RUNNING = 3
EXIT_NOT_CONFIGURED = 4
EXIT_PARTIAL = 5


class UserError(Exception):
    """A problem the operator can fix; printed without a traceback, exit code 1."""

    exit_code = 1


class NotConfigured(UserError):
    """A sync step whose service is not configured or not connected (exit code 4)."""

    exit_code = EXIT_NOT_CONFIGURED


def note(message: str) -> None:
    """A progress line on standard error (standard output carries the command's result)."""
    print(message, file=sys.stderr, flush=True)


# The data dir of the embedded server this process uses (None: none, or DATABASE_URL is set).
_attached_data_dir: Path | None = None


def database_url(settings: Settings) -> str:
    """The configured URL, or the embedded server's (started when needed, and counted as used
    by this process until `release_embedded`)."""
    global _attached_data_dir
    if settings.database_url:
        return settings.database_url
    from sv_common.db import embedded

    note(f"Using the embedded PostgreSQL in {settings.patt_data_dir.resolve()}")
    url = embedded.attach(settings.patt_data_dir)
    _attached_data_dir = settings.patt_data_dir
    return url


def release_embedded() -> None:
    """Leave the embedded server; the last `patt` process to leave stops it."""
    global _attached_data_dir
    if _attached_data_dir is None:
        return
    from sv_common.db import embedded

    data_dir, _attached_data_dir = _attached_data_dir, None
    try:
        stopped = embedded.detach(data_dir)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        note(f"warning: could not stop the embedded PostgreSQL ({exc}); `patt db stop` retries.")
        return
    if stopped:
        note("Stopped the embedded PostgreSQL (no other patt process uses it).")


def upgrade_database(url: str) -> None:
    """Apply migrations, reporting progress."""
    from sv_common.db import migrate

    note("Applying database migrations…")
    migrate.upgrade(url)
    note(f"Database at revision {migrate.current_revision(url)}")


async def _with_session(url: str, work: Callable[[Any], Any]) -> Any:
    from sv_common.db.engine import make_engine, make_sessionmaker, transaction

    engine = make_engine(url, pool_size=2, max_overflow=0)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            return await work(session)
    finally:
        await engine.dispose()


def run_async(url: str, work: Callable[[Any], Any]) -> Any:
    """Run `work(session)` in one transaction against the database."""
    return asyncio.run(_with_session(url, work))


async def seed(session: Any) -> int:
    """Insert the default ranks when none exist; the number inserted."""
    from sv_common.db.seed import seed_ranks

    return await seed_ranks(session)


def prepared_database(settings: Settings) -> str:
    """The database URL after migrations and rank seeding (what most commands need first)."""
    url = database_url(settings)
    upgrade_database(url)
    run_async(url, seed)
    return url
