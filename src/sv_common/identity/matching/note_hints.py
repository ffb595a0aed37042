"""Hints in guild and officer notes: Discord names ("DC: stonehoof", "@stonehoof") and the main
a character belongs to ("alt of Aldrameth", "Aldrameth's alt", "main: Aldrameth") (pure).

Only these explicit patterns count: a bare word in a note is never a hint, because notes are
free text ("raider", "bank", "trial") and guessing would link the wrong people.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sv_common.identity.names import key

_STOP = r"[^\s,;|/()]+"
_DISCORD_PATTERNS = (
    re.compile(rf"\b(?:discord|disc|dc)\s*[:=]\s*@?({_STOP})", re.IGNORECASE),
    # the look-behind keeps e-mail addresses ("bob@example.org") from counting as mentions
    re.compile(r"(?<![\w@])@([\w.]{2,32})", re.IGNORECASE),
)
_CHARACTER_PATTERNS = (
    re.compile(rf"\balt\s+(?:of|for)\s+({_STOP})", re.IGNORECASE),
    re.compile(r"([^\s,;|/()'’]+)['’]s?\s+alt\b", re.IGNORECASE),
    re.compile(rf"\bmain\s*[:=]\s*({_STOP})", re.IGNORECASE),
)
_TRAILING = ".,;:!?)]}"
MIN_HINT_KEY = 2


@dataclass(frozen=True)
class NoteHints:
    """What one note names: Discord names, and characters with their realm when one was written
    as `Name-Realm` (`realms[i]` belongs to `characters[i]`, None when no realm was given)."""

    discord: list[str] = field(default_factory=list)
    characters: list[str] = field(default_factory=list)
    realms: list[str | None] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.discord or self.characters)


def _clean(value: str) -> tuple[str, str | None] | None:
    """(name, realm) of a captured value, or None when too short to mean anything."""
    value = value.lstrip("@").rstrip(_TRAILING)
    name, dash, realm = value.partition("-")
    realm_value = realm.rstrip(_TRAILING) if dash and realm else None
    if len(key(name)) < MIN_HINT_KEY:
        return None
    return name, realm_value


def _matches(patterns: tuple[re.Pattern[str], ...], note: str) -> list[str]:
    """Values captured by any of the patterns, in the order they appear in the note."""
    found: list[tuple[int, str]] = []
    for pattern in patterns:
        found.extend((m.start(1), m.group(1)) for m in pattern.finditer(note))
    found.sort(key=lambda item: item[0])
    return [value for _, value in found]


def parse_note(note: str | None) -> NoteHints:
    """All hints of a note, in the order they appear, without duplicates."""
    if not note or not note.strip():
        return NoteHints()
    hints = NoteHints()
    seen_discord: set[str] = set()
    for raw in _matches(_DISCORD_PATTERNS, note):
        cleaned = _clean(raw)
        if cleaned is None:
            continue
        name, _realm = cleaned
        if key(name) not in seen_discord:
            seen_discord.add(key(name))
            hints.discord.append(name)
    seen_characters: set[tuple[str, str]] = set()
    for raw in _matches(_CHARACTER_PATTERNS, note):
        cleaned = _clean(raw)
        if cleaned is None:
            continue
        name, realm = cleaned
        identity = (key(name), key(realm))
        if identity not in seen_characters:
            seen_characters.add(identity)
            hints.characters.append(name)
            hints.realms.append(realm)
    return hints
