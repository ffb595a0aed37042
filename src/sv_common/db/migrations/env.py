"""Alembic environment: synchronous psycopg connection; URL from the config or DATABASE_URL."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool

from sv_common.db.engine import to_sync_url
from sv_common.db.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("No database URL: use `patt db upgrade` (it starts the embedded database)")
    return to_sync_url(url)


def run_migrations_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          include_schemas=True, version_table_schema="public")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
