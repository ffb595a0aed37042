"""Revocable sessions and one main per member.

- `common.users.token_version`: every access token carries the version it was issued under;
  raising it signs the user out everywhere at once. Triggers raise it when the password
  changes, when the account is deactivated and when the member's rank changes, so no writer
  (API, page, CLI, Discord role sync, raw SQL) can forget it; logout raises it explicitly.
- `ex_characters_one_main`: at most one current main per member, enforced by the database
  (extra mains already stored, e.g. by an old import, become alts first — the lowest id stays).

Revision ID: 0003_hardening
Revises: 0002_campaign_counting_method
"""

from __future__ import annotations

from alembic import op

revision = "0003_hardening"
down_revision = "0002_campaign_counting_method"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE common.users ADD COLUMN token_version integer NOT NULL DEFAULT 0")
    op.execute(
        """
        CREATE FUNCTION common.bump_token_version_on_user() RETURNS trigger AS $$
        BEGIN
            IF NEW.password_hash IS DISTINCT FROM OLD.password_hash
               OR (OLD.is_active AND NOT NEW.is_active) THEN
                NEW.token_version := OLD.token_version + 1;
            END IF;
            RETURN NEW;
        END $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        "CREATE TRIGGER trg_users_token_version BEFORE UPDATE ON common.users "
        "FOR EACH ROW EXECUTE FUNCTION common.bump_token_version_on_user()"
    )
    op.execute(
        """
        CREATE FUNCTION common.bump_token_version_on_rank() RETURNS trigger AS $$
        BEGIN
            UPDATE common.users SET token_version = token_version + 1 WHERE id = NEW.user_id;
            RETURN NEW;
        END $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        "CREATE TRIGGER trg_members_rank_token_version AFTER UPDATE OF rank_id "
        "ON common.guild_members FOR EACH ROW "
        "WHEN (OLD.rank_id IS DISTINCT FROM NEW.rank_id AND NEW.user_id IS NOT NULL) "
        "EXECUTE FUNCTION common.bump_token_version_on_rank()"
    )
    op.execute(
        """
        UPDATE common.characters c SET main_alt = 'alt'
        WHERE c.main_alt = 'main' AND c.member_id IS NOT NULL AND c.removed_at IS NULL
          AND EXISTS (
            SELECT 1 FROM common.characters o
            WHERE o.member_id = c.member_id AND o.main_alt = 'main' AND o.removed_at IS NULL
              AND o.id < c.id)
        """
    )
    # An exclusion constraint rather than a unique index so it can be checked at commit:
    # writers that make a new main and then demote the old one, inside one transaction, stay
    # valid; two concurrent transactions that each add a main cannot both commit.
    op.execute(
        "ALTER TABLE common.characters ADD CONSTRAINT ex_characters_one_main "
        "EXCLUDE USING btree (member_id WITH =) "
        "WHERE (main_alt = 'main' AND member_id IS NOT NULL AND removed_at IS NULL) "
        "DEFERRABLE INITIALLY DEFERRED"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE common.characters DROP CONSTRAINT ex_characters_one_main")
    op.execute("DROP TRIGGER trg_members_rank_token_version ON common.guild_members")
    op.execute("DROP FUNCTION common.bump_token_version_on_rank()")
    op.execute("DROP TRIGGER trg_users_token_version ON common.users")
    op.execute("DROP FUNCTION common.bump_token_version_on_user()")
    op.execute("ALTER TABLE common.users DROP COLUMN token_version")
