"""Selectable counting methods (40 §9.3): campaigns.counting_method and campaign_results.method_details.

Revision ID: 0002_campaign_counting_method
Revises: 0001_base_schema
"""

from __future__ import annotations

from alembic import op

revision = "0002_campaign_counting_method"
down_revision = "0001_base_schema"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE patt.campaigns "
        "ADD COLUMN counting_method varchar(20) NOT NULL DEFAULT 'weighted', "
        "ADD CONSTRAINT ck_campaigns_counting_method "
        "CHECK (counting_method IN ('weighted', 'irv', 'schulze'))"
    )
    op.execute("ALTER TABLE patt.campaign_results ADD COLUMN method_details jsonb NULL")


def downgrade() -> None:
    op.execute("ALTER TABLE patt.campaign_results DROP COLUMN method_details")
    op.execute(
        "ALTER TABLE patt.campaigns "
        "DROP CONSTRAINT ck_campaigns_counting_method, DROP COLUMN counting_method"
    )
