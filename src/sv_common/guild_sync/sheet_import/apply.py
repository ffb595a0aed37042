"""Applying a plan: the writing steps in order, in the caller's transaction and under the
sheet-import advisory lock, then the Mito texts; `run_import` adds the transaction and the
`sync_log` record.

Failures while writing roll back and are logged as an `error` row by `run_import`; a dry run
writes everything, then rolls back and logs nothing (the spec leaves both open).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sv_common.db import locks
from sv_common.db.models import MitoQuote, MitoTitle
from sv_common.guild_sync import sync_log
from sv_common.guild_sync.sheet_import.plan import ImportPlan
from sv_common.guild_sync.sheet_import.rules import SheetImportError
from sv_common.guild_sync.sheet_import.summary import ImportOptions, ImportSummary
from sv_common.guild_sync.sheet_import.write_characters import write_characters
from sv_common.guild_sync.sheet_import.write_people import (
    write_availability,
    write_discord_ids,
    write_members,
)


async def _write_mito(session: AsyncSession, plan: ImportPlan, summary: ImportSummary) -> None:
    """Step 6: new quotes and titles in input order; exact existing texts are skipped."""
    summary.mito_skipped = plan.mito_skipped
    for model, column, texts in (
        (MitoQuote, MitoQuote.quote, plan.quotes),
        (MitoTitle, MitoTitle.title, plan.titles),
    ):
        if not texts:
            continue
        present = set((await session.scalars(select(column).where(column.in_(texts)))).all())
        new = [t for t in texts if t not in present]
        summary.mito_skipped += len(texts) - len(new)
        if new:
            await session.execute(pg_insert(model), [{column.key: t} for t in new])
        if model is MitoQuote:
            summary.quotes_added = len(new)
        else:
            summary.titles_added = len(new)


async def apply_plan(
    session: AsyncSession,
    plan: ImportPlan,
    options: ImportOptions,
    *,
    progress: Callable[[str], None] | None = None,
) -> ImportSummary:
    """Write the plan in the caller's transaction (60 §10.4 steps 1–6); returns the summary."""
    say = progress or (lambda _message: None)
    # A transaction-level lock, unlike the session locks of `locks.try_acquire`: it ends with the
    # import's own transaction (commit, failure or a dry run's rollback), so it cannot leak.
    if not await locks.try_transaction_lock(session, locks.SHEET_IMPORT):
        raise SheetImportError("Another sheet import is running; try again when it has finished.")
    summary = ImportSummary(
        source=plan.source,
        input_counts=dict(plan.input_counts),
        flags=list(plan.flags),
        sheet_issues=list(plan.sheet_issues),
        missing_tabs=list(plan.missing_tabs),
    )
    say("Members…")
    members = await write_members(session, plan, options, summary)
    say("Availability…")
    await write_availability(session, plan, members, options, summary)
    say("Characters…")
    await write_characters(session, plan, members, options, summary)
    say("Discord IDs…")
    await write_discord_ids(session, plan, members, options, summary)
    say("Mito's Corner…")
    await _write_mito(session, plan, summary)
    await session.flush()
    return summary


async def run_import(
    sessionmaker: async_sessionmaker[AsyncSession],
    plan: ImportPlan,
    options: ImportOptions,
    *,
    dry_run: bool = False,
    triggered_by: str = "cli",
    progress: Callable[[str], None] | None = None,
) -> ImportSummary:
    """Apply a plan in one transaction; a `sync_log` row records the run (none for a dry run,
    which rolls everything back). Any failure rolls back and raises SheetImportError."""
    if dry_run:
        async with sessionmaker() as session:
            try:
                summary = await apply_plan(session, plan, options, progress=progress)
            finally:
                await session.rollback()
        summary.dry_run = True
        return summary
    async with sync_log.sync_run(
        sessionmaker, source="sheet_import", triggered_by=triggered_by
    ) as run:
        try:
            async with sessionmaker() as session, session.begin():
                summary = await apply_plan(session, plan, options, progress=progress)
        except SheetImportError:
            raise
        except SQLAlchemyError as exc:
            raise SheetImportError(
                "Writing the import failed; nothing was written "
                f"({type(getattr(exc, 'orig', None) or exc).__name__})."
            ) from exc
        run.found = summary.characters_found
        run.new = summary.characters_created
        run.updated = summary.characters_updated
        run.details = summary.as_json()
    return summary
