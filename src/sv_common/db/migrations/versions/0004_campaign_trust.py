"""Campaigns a guild can trust (40 §9.1, §9.2, §9.5).

- `patt.ballots.receipt`: a random code per ballot (unique within its campaign), shown to the
  voter and published with the anonymised ballot list after close. The column defaults to
  `patt.new_ballot_receipt()`, so ballots cast before this migration (nobody was shown a
  receipt for them) and ballots written by other tools get a random one too.
- The audit snapshot taken when a campaign closes: `outcome`, `eligible_count_at_close`,
  `ballot_count_at_close`, `audit_method`, `point_table`, `ballot_digest` (SHA-256 of the
  canonical ballot list), `audit_calculated_at`.
- Campaign options: `eligibility_snapshot` (who may vote is fixed at activation, kept in
  `patt.campaign_eligible_voters`), `quorum_percent`, `allow_vote_change`.

Revision ID: 0004_campaign_trust
Revises: 0003_hardening
"""

from __future__ import annotations

from alembic import op

revision = "0004_campaign_trust"
down_revision = "0003_hardening"
branch_labels = None
depends_on = None

# A receipt made by PostgreSQL for ballots written without one (older ballots, bulk inserts by
# tools and tests): 8 characters of Crockford's base-32 alphabet (no I, L, O, U), each from 5
# random bits of gen_random_uuid() (bytes 6 and 8 carry the UUID version bits and are skipped).
RECEIPT_FUNCTION = """
CREATE FUNCTION patt.new_ballot_receipt() RETURNS varchar(9) LANGUAGE sql VOLATILE AS $$
    WITH b AS (SELECT uuid_send(gen_random_uuid()) AS bytes)
    SELECT substr(code, 1, 4) || '-' || substr(code, 5, 4)
    FROM (
        SELECT string_agg(
            substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', (get_byte(b.bytes, i) % 32) + 1, 1),
            '' ORDER BY i
        ) AS code
        FROM b, unnest(ARRAY[0, 1, 2, 3, 4, 5, 10, 11]) AS i
    ) AS drawn
$$
"""


def upgrade() -> None:
    op.execute(RECEIPT_FUNCTION)
    op.execute(
        "ALTER TABLE patt.ballots "
        "ADD COLUMN receipt varchar(9) NOT NULL DEFAULT patt.new_ballot_receipt()"
    )
    op.execute(
        "ALTER TABLE patt.ballots "
        "ADD CONSTRAINT uq_ballot_campaign_receipt UNIQUE (campaign_id, receipt)"
    )
    op.execute(
        "ALTER TABLE patt.campaigns "
        "ADD COLUMN eligibility_snapshot boolean NOT NULL DEFAULT false, "
        "ADD COLUMN quorum_percent integer NULL, "
        "ADD COLUMN allow_vote_change boolean NOT NULL DEFAULT false, "
        "ADD COLUMN outcome varchar(20) NULL, "
        "ADD COLUMN eligible_count_at_close integer NULL, "
        "ADD COLUMN ballot_count_at_close integer NULL, "
        "ADD COLUMN audit_method varchar(20) NULL, "
        "ADD COLUMN point_table integer[] NULL, "
        "ADD COLUMN ballot_digest varchar(64) NULL, "
        "ADD COLUMN audit_calculated_at timestamptz NULL, "
        "ADD CONSTRAINT ck_campaigns_outcome CHECK (outcome IN ('declared', 'no_quorum')), "
        "ADD CONSTRAINT ck_campaigns_quorum_percent "
        "CHECK (quorum_percent IS NULL OR quorum_percent BETWEEN 1 AND 100), "
        "ADD CONSTRAINT ck_campaigns_ballot_digest "
        "CHECK (ballot_digest IS NULL OR ballot_digest ~ '^[0-9a-f]{64}$')"
    )
    op.execute(
        """
        CREATE TABLE patt.campaign_eligible_voters (
            campaign_id integer NOT NULL
                REFERENCES patt.campaigns (id) ON DELETE CASCADE,
            member_id integer NOT NULL
                REFERENCES common.guild_members (id) ON DELETE CASCADE,
            PRIMARY KEY (campaign_id, member_id)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE patt.campaign_eligible_voters")
    op.execute(
        "ALTER TABLE patt.campaigns "
        "DROP CONSTRAINT ck_campaigns_ballot_digest, "
        "DROP CONSTRAINT ck_campaigns_quorum_percent, "
        "DROP CONSTRAINT ck_campaigns_outcome, "
        "DROP COLUMN audit_calculated_at, DROP COLUMN ballot_digest, DROP COLUMN point_table, "
        "DROP COLUMN audit_method, DROP COLUMN ballot_count_at_close, "
        "DROP COLUMN eligible_count_at_close, DROP COLUMN outcome, "
        "DROP COLUMN allow_vote_change, DROP COLUMN quorum_percent, "
        "DROP COLUMN eligibility_snapshot"
    )
    op.execute("ALTER TABLE patt.ballots DROP CONSTRAINT uq_ballot_campaign_receipt")
    op.execute("ALTER TABLE patt.ballots DROP COLUMN receipt")
    op.execute("DROP FUNCTION patt.new_ballot_receipt()")
