"""Note hints: every pattern, apostrophes, Name-Realm, punctuation, e-mails, bare words."""

from __future__ import annotations

import pytest

from sv_common.identity.matching.note_hints import NoteHints, parse_note


@pytest.mark.parametrize(
    "note",
    [
        "Discord: stonehoof",
        "discord=stonehoof",
        "DC=stonehoof",
        "dc : stonehoof",
        "disc: @stonehoof",
        "raider, DISCORD: Stonehoof; tank",
        "ping @stonehoof",
        "@stonehoof",
        "(@stonehoof)",
        "ask @stonehoof.",
        "Discord: stonehoof!",
    ],
)
def test_discord_hints(note: str) -> None:
    hints = parse_note(note)
    assert [h.lower() for h in hints.discord] == ["stonehoof"]
    assert hints.characters == []


@pytest.mark.parametrize(
    "note",
    [
        "alt of Aldrameth",
        "Alt for Aldrameth",
        "ALT OF aldrameth,",
        "Aldrameth's alt",
        "Aldrameth’s alt",
        "Aldrameth' alt",
        "main: Aldrameth",
        "Main=Aldrameth",
        "bank; main : Aldrameth.",
    ],
)
def test_character_hints(note: str) -> None:
    hints = parse_note(note)
    assert [h.lower() for h in hints.characters] == ["aldrameth"]
    assert hints.realms == [None]
    assert hints.discord == []


def test_name_realm_is_split_at_the_first_dash() -> None:
    hints = parse_note("alt of Aldrameth-Sen'jin")
    assert hints.characters == ["Aldrameth"]
    assert hints.realms == ["Sen'jin"]
    hints = parse_note("main: Aldrameth-Area-52")
    assert hints.realms == ["Area-52"]


def test_email_address_is_not_a_mention() -> None:
    assert parse_note("mail me at stone@example.org") == NoteHints()
    assert not parse_note("a@b")


@pytest.mark.parametrize("note", [None, "", "   ", "stonehoof", "Aldrameth", "raider alt", "main"])
def test_no_pattern_no_hint(note: str | None) -> None:
    assert parse_note(note) == NoteHints()


def test_several_hints_keep_their_order_without_duplicates() -> None:
    hints = parse_note("DC: zed, @Aldra, alt of Brañix; main=Cyra @zed Brañix's alt")
    assert hints.discord == ["zed", "Aldra"]
    assert hints.characters == ["Brañix", "Cyra"]


def test_values_too_short_are_dropped() -> None:
    assert parse_note("alt of X") == NoteHints()
    assert parse_note("dc: @.") == NoteHints()
    assert parse_note("dc: ab").discord == ["ab"]
