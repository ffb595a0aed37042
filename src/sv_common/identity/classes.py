"""The one WoW class/spec table (60 §2.1): roles, Raid-Helper and Wowhead codes, input matching.

Pure data and functions, no database. Python code imports it; pages embed `table_as_json()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

TANK = "tank"
HEALER = "healer"
MELEE_DPS = "melee_dps"
RANGED_DPS = "ranged_dps"
ROLES: tuple[str, ...] = (TANK, HEALER, MELEE_DPS, RANGED_DPS)


@dataclass(frozen=True, slots=True)
class Spec:
    """One row of the class/spec table: default role and third-party codes."""

    class_name: str
    spec_name: str
    role: str
    raid_helper_spec: str
    wowhead_code: str | None


# Table order is the dropdown order (60 §2.1); do not sort.
SPECS: tuple[Spec, ...] = (
    Spec("Death Knight", "Blood", TANK, "Blood", "s"),
    Spec("Death Knight", "Frost", MELEE_DPS, "Frost1", "t"),
    Spec("Death Knight", "Unholy", MELEE_DPS, "Unholy", "v"),
    Spec("Demon Hunter", "Havoc", MELEE_DPS, "Havoc", "S"),
    Spec("Demon Hunter", "Vengeance", TANK, "Vengeance", "T"),
    Spec("Demon Hunter", "Devourer", RANGED_DPS, "Devourer", None),
    Spec("Druid", "Balance", RANGED_DPS, "Balance", "n"),
    Spec("Druid", "Feral", MELEE_DPS, "Feral", "p"),
    Spec("Druid", "Guardian", TANK, "Guardian", "q"),
    Spec("Druid", "Restoration", HEALER, "Restoration", "r"),
    Spec("Evoker", "Devastation", RANGED_DPS, "Devastation", "V"),
    Spec("Evoker", "Preservation", HEALER, "Preservation", "W"),
    Spec("Evoker", "Augmentation", RANGED_DPS, "Augmentation", "X"),
    Spec("Hunter", "Beast Mastery", RANGED_DPS, "Beastmastery", "w"),
    Spec("Hunter", "Marksmanship", RANGED_DPS, "Marksmanship", "x"),
    Spec("Hunter", "Survival", MELEE_DPS, "Survival", "y"),
    Spec("Mage", "Arcane", RANGED_DPS, "Arcane", "b"),
    Spec("Mage", "Fire", RANGED_DPS, "Fire", "c"),
    Spec("Mage", "Frost", RANGED_DPS, "Frost", "d"),
    Spec("Monk", "Brewmaster", TANK, "Brewmaster", "P"),
    Spec("Monk", "Mistweaver", HEALER, "Mistweaver", "R"),
    Spec("Monk", "Windwalker", MELEE_DPS, "Windwalker", "Q"),
    Spec("Paladin", "Holy", HEALER, "Holy1", "f"),
    Spec("Paladin", "Protection", TANK, "Protection1", "g"),
    Spec("Paladin", "Retribution", MELEE_DPS, "Retribution", "h"),
    Spec("Priest", "Discipline", HEALER, "Discipline", "z"),
    Spec("Priest", "Holy", HEALER, "Holy", "B"),
    Spec("Priest", "Shadow", RANGED_DPS, "Shadow", "C"),
    Spec("Rogue", "Assassination", MELEE_DPS, "Assassination", "D"),
    Spec("Rogue", "Outlaw", MELEE_DPS, "Outlaw", "F"),
    Spec("Rogue", "Subtlety", MELEE_DPS, "Subtlety", "G"),
    Spec("Shaman", "Elemental", RANGED_DPS, "Elemental", "H"),
    Spec("Shaman", "Enhancement", MELEE_DPS, "Enhancement", "J"),
    Spec("Shaman", "Restoration", HEALER, "Restoration1", "K"),
    Spec("Warlock", "Affliction", RANGED_DPS, "Affliction", "L"),
    Spec("Warlock", "Demonology", RANGED_DPS, "Demonology", "M"),
    Spec("Warlock", "Destruction", RANGED_DPS, "Destruction", "N"),
    Spec("Warrior", "Arms", MELEE_DPS, "Arms", "j"),
    Spec("Warrior", "Fury", MELEE_DPS, "Fury", "k"),
    Spec("Warrior", "Protection", TANK, "Protection", "m"),
)

CLASSES: tuple[str, ...] = (
    "Death Knight",
    "Demon Hunter",
    "Druid",
    "Evoker",
    "Hunter",
    "Mage",
    "Monk",
    "Paladin",
    "Priest",
    "Rogue",
    "Shaman",
    "Warlock",
    "Warrior",
)

CLASS_COLOURS: Mapping[str, str] = MappingProxyType(
    {
        "Death Knight": "#C41E3A",
        "Demon Hunter": "#A330C9",
        "Druid": "#FF7C0A",
        "Evoker": "#33937F",
        "Hunter": "#AAD372",
        "Mage": "#3FC7EB",
        "Monk": "#00FF98",
        "Paladin": "#F48CBA",
        "Priest": "#FFFFFF",
        "Rogue": "#FFF468",
        "Shaman": "#0070DD",
        "Warlock": "#8788EE",
        "Warrior": "#C69B6D",
    }
)

# Day keys, Monday first (60 §2.3).
DAYS: tuple[str, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)

# Blizzard `playable_class.id` (80 §2.4).
_CLASS_BY_ID: Mapping[int, str] = MappingProxyType(
    {
        1: "Warrior",
        2: "Paladin",
        3: "Hunter",
        4: "Rogue",
        5: "Priest",
        6: "Death Knight",
        7: "Shaman",
        8: "Mage",
        9: "Warlock",
        10: "Monk",
        11: "Druid",
        12: "Demon Hunter",
        13: "Evoker",
    }
)

# Addon `classFile` tokens are locale-independent (01 #9): the class name upper-cased, no spaces.
_CLASS_BY_TOKEN: Mapping[str, str] = MappingProxyType(
    {name.replace(" ", "").upper(): name for name in CLASSES}
)

_ROLE_BY_INPUT: Mapping[str, str] = MappingProxyType(
    {
        "tank": TANK,
        "healer": HEALER,
        "melee": MELEE_DPS,
        "melee_dps": MELEE_DPS,
        "melee dps": MELEE_DPS,
        "ranged": RANGED_DPS,
        "ranged_dps": RANGED_DPS,
        "ranged dps": RANGED_DPS,
    }
)

_LEGACY_ROLE_LABELS: Mapping[str, str] = MappingProxyType(
    {TANK: "Tank", HEALER: "Healer", MELEE_DPS: "Melee", RANGED_DPS: "Ranged"}
)


def _match_key(text: str) -> str:
    """Comparison key for class/spec input: lower-cased, without spaces, '-' and '_'."""
    return "".join(ch for ch in text.strip().casefold() if ch not in " -_")


_CLASS_BY_KEY: Mapping[str, str] = MappingProxyType({_match_key(name): name for name in CLASSES})
_SPECS_BY_CLASS: Mapping[str, tuple[Spec, ...]] = MappingProxyType(
    {name: tuple(spec for spec in SPECS if spec.class_name == name) for name in CLASSES}
)


def _roles_by_spec_key() -> dict[str, frozenset[str]]:
    """Every role a spec name has across all classes (Frost → melee and ranged)."""
    roles: dict[str, set[str]] = {}
    for spec in SPECS:
        roles.setdefault(_match_key(spec.spec_name), set()).add(spec.role)
    return {key: frozenset(value) for key, value in roles.items()}


_ROLES_BY_SPEC_KEY: Mapping[str, frozenset[str]] = MappingProxyType(_roles_by_spec_key())


def match_class(text: str | None) -> str | None:
    """Canonical class name for user/import input ("death knight", "DeathKnight"), else None."""
    if text is None:
        return None
    return _CLASS_BY_KEY.get(_match_key(text))


def specs_for(class_name: str | None) -> tuple[Spec, ...]:
    """The class's specs in table order; empty when the class is not recognised."""
    canonical = match_class(class_name)
    if canonical is None:
        return ()
    return _SPECS_BY_CLASS[canonical]


def find_spec(class_name: str | None, spec_name: str | None) -> Spec | None:
    """The table row for a class and one of its specs (input matched as in 60 §2.1), else None."""
    if spec_name is None:
        return None
    key = _match_key(spec_name)
    for spec in specs_for(class_name):
        if _match_key(spec.spec_name) == key:
            return spec
    return None


def match_spec(class_name: str | None, text: str | None) -> str | None:
    """Canonical spec name when `text` is a spec of that class ("beast-mastery"), else None."""
    spec = find_spec(class_name, text)
    return spec.spec_name if spec is not None else None


def parse_role(text: str | None) -> str | None:
    """Platform role for an accepted role word (60 §2.2), else None; 'dps' is not a role."""
    if text is None:
        return None
    normalised = " ".join(text.split()).lower()
    return _ROLE_BY_INPUT.get(normalised)


def role_for(
    class_name: str | None, spec_name: str | None, explicit: str | None = None
) -> str | None:
    """Raid role per 80 §5: explicit word, else class+spec table, else unambiguous spec alone."""
    explicit_role = parse_role(explicit)
    if explicit_role is not None:
        return explicit_role
    spec = find_spec(class_name, spec_name)
    if spec is not None:
        return spec.role
    if spec_name is None:
        return None
    # Spec alone only when every class with that spec gives the same role (Frost does not).
    roles = _ROLES_BY_SPEC_KEY.get(_match_key(spec_name), frozenset())
    if len(roles) == 1:
        return next(iter(roles))
    return None


def legacy_role_label(role: str | None) -> str | None:
    """Old sheet/tool label for a role (melee_dps → Melee); None when the role is not recognised."""
    parsed = parse_role(role)
    return _LEGACY_ROLE_LABELS[parsed] if parsed is not None else None


def class_id_to_name(class_id: int | None) -> str | None:
    """Class name for a Blizzard `playable_class.id` (80 §2.4); None for an unknown id."""
    if class_id is None:
        return None
    return _CLASS_BY_ID.get(class_id)


def class_token_to_name(token: str | None) -> str | None:
    """Class name for an addon class token (DEATHKNIGHT, DRUID …); None for UNKNOWN or others."""
    if token is None:
        return None
    return _CLASS_BY_TOKEN.get(token.strip().upper())


def table_as_json() -> dict[str, list[dict[str, Any]]]:
    """The class/spec table as JSON-ready data for pages: classes alphabetical, specs in order."""
    return {
        "classes": [
            {
                "name": class_name,
                "colour": CLASS_COLOURS[class_name],
                "specs": [
                    {
                        "name": spec.spec_name,
                        "role": spec.role,
                        "raidHelper": spec.raid_helper_spec,
                        "wowhead": spec.wowhead_code,
                    }
                    for spec in _SPECS_BY_CLASS[class_name]
                ],
            }
            for class_name in CLASSES
        ]
    }
