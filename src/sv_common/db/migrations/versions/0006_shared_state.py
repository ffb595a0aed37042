"""State shared by every app process: throttle hits, the setup token, new sync_log sources.

- `common.throttle_hits`: one row per (throttle, hashed key) with the times of the key's latest
  hits inside the window, so login, registration, setup, API-key, public-write and invite
  limits hold across workers and hosts. `expires_at` (last hit + window) lets old rows be pruned.
- `common.setup_token`: the single one-time setup link hash (sha256 hex) while no Guild Leader
  exists; replaced on each start in setup mode, deleted when the Guild Leader is created.
- `guild_identity.sync_log.source` also accepts `housekeeping`: the scheduler's daily
  housekeeping leaves a row with its counts and duration, like the syncs.

Revision ID: 0006_shared_state
Revises: 0003_hardening
"""

from __future__ import annotations

from alembic import op

revision = "0006_shared_state"
down_revision = "0004_campaign_trust"
branch_labels = None
depends_on = None

OLD_SOURCES = "'blizzard_api', 'discord_bot', 'addon_upload', 'sheet_import'"
NEW_SOURCES = OLD_SOURCES + ", 'housekeeping'"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE common.throttle_hits (
            bucket varchar(40) NOT NULL,
            key_hash varchar(64) NOT NULL,
            hits timestamptz[] NOT NULL,
            expires_at timestamptz NOT NULL,
            CONSTRAINT pk_throttle_hits PRIMARY KEY (bucket, key_hash)
        )
        """
    )
    op.execute("CREATE INDEX ix_throttle_hits_expires_at ON common.throttle_hits (expires_at)")
    op.execute(
        """
        CREATE TABLE common.setup_token (
            id integer DEFAULT 1 NOT NULL,
            token_hash varchar(64) NOT NULL,
            created_at timestamptz DEFAULT now() NOT NULL,
            CONSTRAINT pk_setup_token PRIMARY KEY (id),
            CONSTRAINT ck_setup_token_single_row CHECK (id = 1)
        )
        """
    )
    op.execute("ALTER TABLE guild_identity.sync_log DROP CONSTRAINT ck_sync_log_source")
    op.execute(
        "ALTER TABLE guild_identity.sync_log ADD CONSTRAINT ck_sync_log_source "
        f"CHECK (source IN ({NEW_SOURCES}))"
    )


def downgrade() -> None:
    op.execute("DELETE FROM guild_identity.sync_log WHERE source = 'housekeeping'")
    op.execute("ALTER TABLE guild_identity.sync_log DROP CONSTRAINT ck_sync_log_source")
    op.execute(
        "ALTER TABLE guild_identity.sync_log ADD CONSTRAINT ck_sync_log_source "
        f"CHECK (source IN ({OLD_SOURCES}))"
    )
    op.execute("DROP TABLE common.setup_token")
    op.execute("DROP TABLE common.throttle_hits")
