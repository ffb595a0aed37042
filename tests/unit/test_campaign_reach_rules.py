"""Pure parts of campaign announcements and reminders: when a reminder is due, and the texts
(winner, tie, no result, no votes, early close, Markdown in titles and names)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from patt.campaigns.announcer import launch_text, milestone_text, results_text
from patt.campaigns.reminders import due_kind, reminder_text
from patt.config import Settings
from sv_common.db.enums import ReminderKind
from sv_common.db.models import Campaign

START = datetime(2030, 3, 1, 18, 0, tzinfo=UTC)
SETTINGS = Settings(_env_file=None, public_base_url="https://guild.example/")  # type: ignore[call-arg]


def campaign(hours: int = 48, **fields: object) -> Campaign:
    values: dict[str, object] = {
        "id": 7,
        "title": "Banner *Vote*",
        "status": "live",
        "start_at": START,
        "activated_at": START,
        "duration_hours": hours,
        "close_reason": None,
        "outcome": None,
        "quorum_percent": None,
    }
    values.update(fields)
    return Campaign(**values)


@pytest.mark.parametrize(
    ("hours_after_start", "expected"),
    [
        (0, None),
        (23.9, None),
        (24, ReminderKind.DAY),
        (46.9, ReminderKind.DAY),
        (47, ReminderKind.HOUR),
        (47.99, ReminderKind.HOUR),
        (48, None),
    ],
)
def test_reminder_windows(hours_after_start: float, expected: ReminderKind | None) -> None:
    assert due_kind(campaign(), START + timedelta(hours=hours_after_start)) == expected


def test_short_campaigns_skip_the_reminders_they_opened_inside() -> None:
    twelve = campaign(hours=12)
    assert due_kind(twelve, START + timedelta(hours=2)) is None
    assert due_kind(twelve, START + timedelta(hours=11, minutes=30)) == ReminderKind.HOUR
    one = campaign(hours=1)
    assert due_kind(one, START + timedelta(minutes=30)) is None
    assert due_kind(campaign(status="closed"), START + timedelta(hours=47)) is None


def test_texts_escape_markdown_and_link_the_vote_page() -> None:
    opened = launch_text(campaign(), SETTINGS)
    assert "Banner \\*Vote\\*" in opened and "https://guild.example/vote/7" in opened
    assert f"<t:{int((START + timedelta(hours=48)).timestamp())}:F>" in opened
    turnout = milestone_text(campaign(), SETTINGS, percent=50, voted=5, eligible=10)
    assert "50% of eligible members have voted (5 of 10)" in turnout
    dm = reminder_text(
        display_name="_Sneaky_", campaign=campaign(), settings=SETTINGS, guild_name="PATT"
    )
    assert dm.startswith("Hi \\_Sneaky\\_!") and "https://guild.example/vote/7" in dm
    assert (
        len(
            reminder_text(
                display_name="x" * 500,
                campaign=campaign(title="y" * 200),
                settings=SETTINGS,
                guild_name="z" * 300,
            )
        )
        < 2000
    )


def test_result_texts() -> None:
    closed = campaign(status="closed", outcome="declared")
    assert "Winner: **Dragon**!" in results_text(closed, SETTINGS, ["Dragon"])
    assert "Tie for first: **Dragon**, **Phoenix**." in results_text(
        closed, SETTINGS, ["Dragon", "Phoenix"]
    )
    assert "without any votes" in results_text(closed, SETTINGS, [])
    early = campaign(status="closed", outcome="declared", close_reason="early_close")
    assert "closed early: every eligible member has voted" in results_text(early, SETTINGS, ["A"])
    none = campaign(status="closed", outcome="no_quorum", quorum_percent=60)
    text = results_text(none, SETTINGS, ["Dragon"])
    assert "**no result**" in text and "60% quorum" in text and "Dragon" not in text
    assert text.endswith("Results: https://guild.example/vote/7")
