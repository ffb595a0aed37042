"""libpq connection details from a SQLAlchemy-style URL, for psycopg and the PostgreSQL
programs (pg_dump, pg_restore), including the embedded server's socket (`?host=/dir`)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url


def libpq_env(url: str) -> dict[str, str]:
    """PG* environment variables for `url` (the password travels here, never on a command line)."""
    parsed = make_url(url)
    query = {
        key: value if isinstance(value, str) else value[0] for key, value in parsed.query.items()
    }
    env: dict[str, str] = {}
    host = parsed.host or query.get("host")
    if host:
        env["PGHOST"] = host
    if parsed.port or query.get("port"):
        env["PGPORT"] = str(parsed.port or query["port"])
    if parsed.username:
        env["PGUSER"] = parsed.username
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    if parsed.database:
        env["PGDATABASE"] = parsed.database
    ssl = query.get("sslmode") or query.get("ssl")
    if ssl:
        env["PGSSLMODE"] = {"true": "require", "false": "disable"}.get(ssl.lower(), ssl)
    return env


def connect(url: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """A psycopg connection to `url` (any driver prefix; a socket directory in `?host=`)."""
    env = libpq_env(url)
    params = {
        "host": env.get("PGHOST"),
        "port": env.get("PGPORT"),
        "user": env.get("PGUSER"),
        "password": env.get("PGPASSWORD"),
        "dbname": env.get("PGDATABASE"),
        "sslmode": env.get("PGSSLMODE"),
    }
    conninfo = make_conninfo("", **{key: value for key, value in params.items() if value})
    return psycopg.connect(conninfo, **kwargs)
