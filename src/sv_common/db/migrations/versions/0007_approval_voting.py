"""Approval voting: campaigns of type `approval` are counted by approvals, nothing else.

The base schema already reserved `approval` in `ck_campaigns_type`; the application refused it
until now. This migration makes the pairing explicit so no row can mix the two ballot styles:

- `ck_campaigns_counting_method` also allows `approval`;
- `ck_campaigns_approval_counting`: a campaign has `type = 'approval'` exactly when its
  `counting_method = 'approval'` (ranked campaigns keep `weighted` / `irv` / `schulze`).
  Rows of type `approval` written by hand before this migration are given that method first.

Downgrade refuses while any approval campaign exists: the older code would count its
unordered ballots as ranked ones (earlier picks worth more), silently changing the result.
Delete those campaigns (or restore a backup) before downgrading.

Revision ID: 0007_approval_voting
Revises: 0006_shared_state
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0007_approval_voting"
down_revision = "0006_shared_state"
branch_labels = None
depends_on = None

RANKED_METHODS = "'weighted', 'irv', 'schulze'"


def upgrade() -> None:
    op.execute(
        "ALTER TABLE patt.campaigns "
        "DROP CONSTRAINT ck_campaigns_counting_method, "
        "ADD CONSTRAINT ck_campaigns_counting_method "
        f"CHECK (counting_method IN ({RANKED_METHODS}, 'approval'))"
    )
    op.execute("UPDATE patt.campaigns SET counting_method = 'approval' WHERE type = 'approval'")
    op.execute(
        "ALTER TABLE patt.campaigns ADD CONSTRAINT ck_campaigns_approval_counting "
        "CHECK ((type = 'approval') = (counting_method = 'approval'))"
    )


def downgrade() -> None:
    bind = op.get_bind()
    found = bind.execute(
        text("SELECT id FROM patt.campaigns WHERE type = 'approval' ORDER BY id")
    ).scalars()
    approval_ids = [str(campaign_id) for campaign_id in found]
    if approval_ids:
        raise RuntimeError(
            "Cannot downgrade below 0007_approval_voting: approval campaigns exist "
            f"(ids {', '.join(approval_ids)}). Older versions would count their ballots as "
            "ranked ones; delete these campaigns or restore a backup taken before the upgrade."
        )
    op.execute(
        "ALTER TABLE patt.campaigns "
        "DROP CONSTRAINT ck_campaigns_approval_counting, "
        "DROP CONSTRAINT ck_campaigns_counting_method, "
        "ADD CONSTRAINT ck_campaigns_counting_method "
        f"CHECK (counting_method IN ({RANKED_METHODS}))"
    )
