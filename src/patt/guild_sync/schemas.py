"""Request bodies and response shapes of the guild-sync API (triggers, status, log, addon
upload)."""

from __future__ import annotations

from typing import Any

from pydantic import StrictBool

from patt.core.fields import IsoTime
from patt.core.schemas import Body, ReadModel


class BlizzardTrigger(Body):
    """`POST /blizzard/trigger` (optional body)."""

    force_removals: StrictBool = False


class ReportTrigger(Body):
    """`POST /report/trigger` (optional body): `full` posts every open issue."""

    full: StrictBool = True


class Started(ReadModel):
    """A job accepted in the background; its outcome goes to the sync log."""

    status: str = "started"
    sync_log_id: int


class PipelineResult(ReadModel):
    """What one pipeline run did."""

    matching: dict[str, Any]
    integrity: dict[str, Any]
    reported: int = 0
    report_skipped: str | None = None
    report_error: str | None = None


class Reported(ReadModel):
    """Issues posted to the audit channel."""

    reported: int
    error: str | None = None


class LastRun(ReadModel):
    """The newest run of one source."""

    id: int
    status: str
    started_at: IsoTime
    completed_at: IsoTime | None
    duration_seconds: float | None
    found: int | None
    new: int | None
    updated: int | None
    removed: int | None
    error: str | None


class SourceStatus(ReadModel):
    """State of one sync source."""

    configured: bool
    running: bool | None = None
    state: str | None = None
    next_run_at: IsoTime | None = None
    last_success_at: IsoTime | None = None
    last_run: LastRun | None = None


class SyncStatus(ReadModel):
    """`GET /status`: every source, the audit channel and open issues per type."""

    sources: dict[str, SourceStatus]
    audit_channel_configured: bool
    open_issues: dict[str, int]


class SyncLogRow(ReadModel):
    """One row of the sync history."""

    id: int
    source: str
    status: str
    characters_found: int | None
    characters_updated: int | None
    characters_new: int | None
    characters_removed: int | None
    error_message: str | None
    duration_seconds: float | None
    details: dict[str, Any] | None
    triggered_by: str | None
    started_at: IsoTime
    completed_at: IsoTime | None


class UploadAccepted(ReadModel):
    """The addon upload's answer."""

    received: int
    updated: int
    new: int
    not_found: int
    ambiguous: int
    skipped: int
    sync_log_id: int | None
    export_time: str | None


class UploadStatus(ReadModel):
    """The last addon upload (all null before the first)."""

    last_upload: str | None
    last_export_time: str | None
    status: str | None
    received: int | None
    addon_version: str | None
