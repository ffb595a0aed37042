"""`patt db upgrade|current|status|stop` and `patt seed`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from patt.cli.common import UserError, database_url, run_async, seed, upgrade_database
from patt.config import Settings


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    """Apply every migration."""
    upgrade_database(database_url(settings))
    return 0


def cmd_db_current(args: argparse.Namespace, settings: Settings) -> int:
    """Print the current and head revisions."""
    from sv_common.db import migrate

    url = database_url(settings)
    current = migrate.current_revision(url)
    head = migrate.head_revision()
    print(
        f"current: {current or '(none)'}  head: {head}"
        + ("" if current == head else "  (upgrade needed)")
    )
    return 0


def cmd_db_status(args: argparse.Namespace, settings: Settings) -> int:
    """Say which database this install uses and whether the embedded one runs (starts nothing)."""
    from sv_common.db import embedded

    if settings.database_url:
        from sqlalchemy.engine import make_url

        shown = make_url(settings.database_url).render_as_string(hide_password=True)
        print(f"DATABASE_URL is set: this install uses {shown}, not the embedded database.")
    state = embedded.status(settings.patt_data_dir)
    if not state.initialised:
        print(f"Embedded PostgreSQL: none in {state.data_dir} (created by the first command).")
        return 0
    if not state.running:
        print(f"Embedded PostgreSQL in {state.data_dir}: stopped (any patt command starts it).")
        return 0
    print(
        f"Embedded PostgreSQL in {state.data_dir}: running (process {state.server_pid}, "
        f"socket in {state.socket_dir})."
    )
    if state.users:
        print("Used by: " + ", ".join(_describe_process(pid) for pid in state.users))
    else:
        print("Used by no patt process (`patt db stop` stops it).")
    return 0


def _describe_process(pid: int) -> str:
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return str(pid)
    command = " ".join(w.decode(errors="replace") for w in words if w)
    return f"{pid} ({command[:80]})" if command else str(pid)


def cmd_db_stop(args: argparse.Namespace, settings: Settings) -> int:
    """Stop the embedded server unless a patt process still uses it (or --force)."""
    from sv_common.db import embedded

    try:
        stopped = embedded.stop(settings.patt_data_dir, force=args.force)
    except embedded.EmbeddedInUse as exc:
        users = ", ".join(_describe_process(pid) for pid in exc.users)
        raise UserError(
            f"The embedded PostgreSQL is still used by: {users}. Stop those first "
            "(stopping `patt serve` stops the database with it), or pass --force."
        ) from None
    print("Embedded PostgreSQL stopped." if stopped else "Embedded PostgreSQL was not running.")
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    """Insert the default ranks when the table is empty."""
    url = database_url(settings)
    upgrade_database(url)
    inserted = run_async(url, seed)
    print(
        f"Seeded {inserted} default ranks."
        if inserted
        else "Ranks already present; nothing changed."
    )
    return 0


def register(sub: Any) -> None:
    """Add `db` and `seed` to the parser."""
    db = sub.add_parser(
        "db",
        help="database migrations and the embedded PostgreSQL",
        description="Database migrations, and the state of the embedded PostgreSQL (used when "
        "DATABASE_URL is unset). The embedded server starts with the first patt command that "
        "needs it and stops when the last one (usually `patt serve`) exits.",
    )
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION")
    up = db_sub.add_parser(
        "upgrade", help="apply all migrations", description="Apply all migrations."
    )
    db.set_defaults(help_parser=db)
    up.set_defaults(handler=cmd_db_upgrade)
    cur = db_sub.add_parser(
        "current", help="show the current revision", description="Show the current revision."
    )
    cur.set_defaults(handler=cmd_db_current)
    st = db_sub.add_parser(
        "status",
        help="show whether the embedded PostgreSQL runs and who uses it",
        description="Show which database this install uses; for the embedded PostgreSQL, "
        "whether it runs and which patt processes use it. Starts nothing.",
    )
    st.set_defaults(handler=cmd_db_status)
    stop = db_sub.add_parser(
        "stop",
        help="stop the embedded PostgreSQL",
        description="Stop the embedded PostgreSQL. Refused while a patt process (e.g. `patt "
        "serve`) still uses it, unless --force. Committed data is kept.",
    )
    stop.add_argument(
        "--force",
        action="store_true",
        help="stop it even though patt processes still use it (they lose their connections)",
    )
    stop.set_defaults(handler=cmd_db_stop)

    seed_parser = sub.add_parser(
        "seed",
        help="insert the default ranks when none exist",
        description="Insert the default ranks (shipped with the package) when the table is empty.",
    )
    seed_parser.set_defaults(handler=cmd_seed)
