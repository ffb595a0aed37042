"""Campaigns in Discord: announcements and reminder DMs.

- `patt.campaigns.announce_in_discord` (default true): officers can keep a campaign out of
  Discord (no announcements, no reminder DMs).
- `patt.contest_agent_log`: `status` (pending → posted / failed / skipped) and `error`; the index
  on (campaign_id, event_type) becomes unique, so inserting the row claims the announcement
  and no restart or second process can post it again. Existing duplicates (none are written
  by earlier versions) would make the upgrade fail loudly rather than be dropped silently.
- `patt.campaign_reminders`: one row per (campaign, member, kind) claimed before the reminder
  DM goes out, with the DM's outcome.

Revision ID: 0008_campaign_reach
Revises: 0006_shared_state
"""

from __future__ import annotations

from alembic import op

revision = "0008_campaign_reach"
down_revision = "0007_approval_voting"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE patt.campaigns ADD COLUMN announce_in_discord boolean NOT NULL DEFAULT true"
    )
    op.execute(
        "ALTER TABLE patt.contest_agent_log "
        "ADD COLUMN status varchar(20) NOT NULL DEFAULT 'posted', "
        "ADD COLUMN error text NULL, "
        "ADD CONSTRAINT ck_contest_agent_log_status "
        "CHECK (status IN ('pending', 'posted', 'failed', 'skipped'))"
    )
    op.execute("DROP INDEX patt.ix_contest_agent_log_campaign_event")
    op.execute(
        "CREATE UNIQUE INDEX uq_contest_agent_log_campaign_event "
        "ON patt.contest_agent_log (campaign_id, event_type)"
    )
    op.execute(
        """
        CREATE TABLE patt.campaign_reminders (
            id serial PRIMARY KEY,
            campaign_id integer NOT NULL REFERENCES patt.campaigns (id) ON DELETE CASCADE,
            member_id integer NOT NULL REFERENCES common.guild_members (id) ON DELETE CASCADE,
            kind varchar(10) NOT NULL,
            discord_id varchar(25) NULL,
            status varchar(20) NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz NULL,
            CONSTRAINT ck_campaign_reminders_kind CHECK (kind IN ('24h', '1h')),
            CONSTRAINT ck_campaign_reminders_status CHECK (status IN (
                'sending', 'sent', 'dms_closed', 'unknown_user', 'bot_unavailable', 'failed',
                'no_discord')),
            CONSTRAINT uq_campaign_reminders_campaign_member_kind
                UNIQUE (campaign_id, member_id, kind)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE patt.campaign_reminders")
    op.execute("DROP INDEX patt.uq_contest_agent_log_campaign_event")
    op.execute(
        "CREATE INDEX ix_contest_agent_log_campaign_event "
        "ON patt.contest_agent_log (campaign_id, event_type)"
    )
    op.execute(
        "ALTER TABLE patt.contest_agent_log DROP CONSTRAINT ck_contest_agent_log_status, "
        "DROP COLUMN error, DROP COLUMN status"
    )
    op.execute("ALTER TABLE patt.campaigns DROP COLUMN announce_in_discord")
