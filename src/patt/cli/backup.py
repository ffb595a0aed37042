"""`patt backup` and `patt restore`: pg_dump / pg_restore of the configured (or embedded)
database, with a progress line per table and a completeness check after a restore."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from patt.cli.common import UserError, database_url, note
from patt.config import Settings


def _default_file() -> Path:
    return Path(f"patt-backup-{datetime.now(UTC):%Y%m%d-%H%M%S}.dump")


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    """Write FILE and FILE.json."""
    from sv_common.db import backup

    target = Path(args.output) if args.output else _default_file()
    try:
        manifest = backup.backup(database_url(settings), target, note)
    except backup.BackupError as exc:
        raise UserError(str(exc)) from None
    megabytes = manifest["dump_bytes"] / 1_000_000
    print(
        f"Backup written: {target} ({megabytes:.1f} MB) and {backup.manifest_path(target).name}: "
        f"{len(manifest['tables'])} tables, {manifest['total_rows']} rows, "
        f"revision {manifest['revision'] or '(none)'}."
    )
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    """Load FILE, then check every table's row count and the revision against FILE.json."""
    from sv_common.db import backup, migrate

    try:
        report = backup.restore(database_url(settings), Path(args.file), note, replace=args.replace)
    except backup.BackupError as exc:
        raise UserError(str(exc)) from None
    if not report.complete:
        raise UserError(
            "The restore is INCOMPLETE; it does not match the backup's side file: "
            + "; ".join(report.problems)
        )
    print(
        f"Restore complete: {report.tables} tables, {report.rows} rows, revision "
        f"{report.revision or '(none)'}; every table's row count matches the backup."
    )
    head = migrate.head_revision()
    if report.revision != head:
        print(
            f"This version of patt expects revision {head}: run `patt db upgrade` (or start "
            "`patt serve`, which applies migrations) before using the site."
        )
    return 0


def register(sub: Any) -> None:
    """Add `backup` and `restore` to the parser."""
    save = sub.add_parser(
        "backup",
        help="save the database to a file (pg_dump)",
        description="Save the whole database (configured, or the embedded one) with pg_dump "
        "in its custom format, plus a side file FILE.json recording every table's row count, "
        "the migration revision and the dump's checksum. Keep both files. Safe while the site "
        "runs: the dump is one consistent snapshot.",
    )
    save.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="where to write the dump (default ./patt-backup-YYYYMMDD-HHMMSS.dump, UTC)",
    )
    save.set_defaults(handler=cmd_backup)

    load = sub.add_parser(
        "restore",
        help="load a backup into the database (pg_restore) and check it is complete",
        description="Load a dump made by `patt backup` into the configured (or embedded) "
        "database in one transaction, then compare every table's row count and the migration "
        "revision with FILE.json; exit 1 when anything differs. The database must be empty "
        "unless --replace. Stop `patt serve` first.",
    )
    load.add_argument(
        "file", metavar="FILE", help="the .dump file (its FILE.json must be next to it)"
    )
    load.add_argument(
        "--replace",
        action="store_true",
        help="drop everything in the database first (every schema and table in it)",
    )
    load.set_defaults(handler=cmd_restore)
