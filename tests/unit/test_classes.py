"""Unit tests for the shared class/spec table and role rules (60 §2, 80 §2.4, 80 §5)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from sv_common.identity.classes import (
    CLASS_COLOURS,
    CLASSES,
    DAYS,
    SPECS,
    Spec,
    class_id_to_name,
    class_token_to_name,
    legacy_role_label,
    match_class,
    match_spec,
    parse_role,
    role_for,
    specs_for,
    table_as_json,
)

ALL_CLASSES = [
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
]


# --- the table -------------------------------------------------------------------------------


def test_thirteen_classes_alphabetical_with_exact_spelling() -> None:
    assert list(CLASSES) == ALL_CLASSES
    assert sorted(CLASSES) == list(CLASSES)


def test_every_class_has_specs_and_every_spec_a_known_class() -> None:
    assert {spec.class_name for spec in SPECS} == set(CLASSES)
    assert len(SPECS) == 40
    for class_name in CLASSES:
        assert specs_for(class_name)


def test_specs_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SPECS[0].role = "healer"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("class_name", "spec_names"),
    [
        ("Death Knight", ["Blood", "Frost", "Unholy"]),
        ("Demon Hunter", ["Havoc", "Vengeance", "Devourer"]),
        ("Druid", ["Balance", "Feral", "Guardian", "Restoration"]),
        ("Evoker", ["Devastation", "Preservation", "Augmentation"]),
        ("Hunter", ["Beast Mastery", "Marksmanship", "Survival"]),
        ("Mage", ["Arcane", "Fire", "Frost"]),
        ("Monk", ["Brewmaster", "Mistweaver", "Windwalker"]),
        ("Paladin", ["Holy", "Protection", "Retribution"]),
        ("Priest", ["Discipline", "Holy", "Shadow"]),
        ("Rogue", ["Assassination", "Outlaw", "Subtlety"]),
        ("Shaman", ["Elemental", "Enhancement", "Restoration"]),
        ("Warlock", ["Affliction", "Demonology", "Destruction"]),
        ("Warrior", ["Arms", "Fury", "Protection"]),
    ],
)
def test_spec_order_is_table_order(class_name: str, spec_names: list[str]) -> None:
    assert [spec.spec_name for spec in specs_for(class_name)] == spec_names


def test_specs_for_matches_class_input_and_unknown_is_empty() -> None:
    assert specs_for("death-knight") == specs_for("Death Knight")
    assert specs_for("Necromancer") == ()
    assert specs_for(None) == ()


@pytest.mark.parametrize(
    ("class_name", "spec_name", "role", "raid_helper", "wowhead"),
    [
        ("Death Knight", "Blood", "tank", "Blood", "s"),
        ("Death Knight", "Frost", "melee_dps", "Frost1", "t"),
        ("Demon Hunter", "Havoc", "melee_dps", "Havoc", "S"),
        ("Demon Hunter", "Devourer", "ranged_dps", "Devourer", None),
        ("Druid", "Restoration", "healer", "Restoration", "r"),
        ("Evoker", "Augmentation", "ranged_dps", "Augmentation", "X"),
        ("Hunter", "Beast Mastery", "ranged_dps", "Beastmastery", "w"),
        ("Hunter", "Survival", "melee_dps", "Survival", "y"),
        ("Mage", "Frost", "ranged_dps", "Frost", "d"),
        ("Paladin", "Holy", "healer", "Holy1", "f"),
        ("Paladin", "Protection", "tank", "Protection1", "g"),
        ("Priest", "Holy", "healer", "Holy", "B"),
        ("Shaman", "Restoration", "healer", "Restoration1", "K"),
        ("Warrior", "Protection", "tank", "Protection", "m"),
    ],
)
def test_rows_carry_role_and_third_party_codes(
    class_name: str, spec_name: str, role: str, raid_helper: str, wowhead: str | None
) -> None:
    assert Spec(class_name, spec_name, role, raid_helper, wowhead) in SPECS


def test_roles_are_platform_values() -> None:
    assert {spec.role for spec in SPECS} == {"tank", "healer", "melee_dps", "ranged_dps"}


def test_wowhead_codes_unique_and_only_devourer_missing() -> None:
    codes = [spec.wowhead_code for spec in SPECS if spec.wowhead_code is not None]
    assert len(codes) == len(set(codes)) == 39
    assert [spec.spec_name for spec in SPECS if spec.wowhead_code is None] == ["Devourer"]


def test_class_colours_cover_every_class() -> None:
    assert set(CLASS_COLOURS) == set(CLASSES)
    assert CLASS_COLOURS["Death Knight"] == "#C41E3A"
    assert CLASS_COLOURS["Priest"] == "#FFFFFF"
    assert CLASS_COLOURS["Warrior"] == "#C69B6D"


def test_days_monday_to_sunday() -> None:
    assert DAYS == (
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    )


# --- input matching --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Death Knight", "Death Knight"),
        ("death knight", "Death Knight"),
        ("DeathKnight", "Death Knight"),
        ("DEATH_KNIGHT", "Death Knight"),
        ("death-knight", "Death Knight"),
        ("  demon hunter  ", "Demon Hunter"),
        ("druid", "Druid"),
        ("WARRIOR", "Warrior"),
        ("Necromancer", None),
        ("", None),
        ("Death", None),
        (None, None),
    ],
)
def test_match_class(text: str | None, expected: str | None) -> None:
    assert match_class(text) == expected


@pytest.mark.parametrize(
    ("class_name", "text", "expected"),
    [
        ("Hunter", "beast-mastery", "Beast Mastery"),
        ("Hunter", "BeastMastery", "Beast Mastery"),
        ("Hunter", " beast_mastery ", "Beast Mastery"),
        ("hunter", "MARKSMANSHIP", "Marksmanship"),
        ("DeathKnight", "frost", "Frost"),
        ("Mage", "Frost", "Frost"),
        ("Mage", "Holy", None),
        ("Paladin", "Frost", None),
        ("Necromancer", "Frost", None),
        (None, "Frost", None),
        ("Mage", None, None),
        ("Mage", "", None),
    ],
)
def test_match_spec(class_name: str | None, text: str | None, expected: str | None) -> None:
    assert match_spec(class_name, text) == expected


# --- roles -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tank", "tank"),
        ("Tank", "tank"),
        ("healer", "healer"),
        ("Healer", "healer"),
        ("melee", "melee_dps"),
        ("  Melee  ", "melee_dps"),
        ("melee_dps", "melee_dps"),
        ("melee dps", "melee_dps"),
        ("Melee DPS", "melee_dps"),
        ("ranged", "ranged_dps"),
        ("Ranged", "ranged_dps"),
        ("ranged_dps", "ranged_dps"),
        ("ranged dps", "ranged_dps"),
        ("RANGED_DPS", "ranged_dps"),
    ],
)
def test_parse_role_accepts_vocabulary(text: str, expected: str) -> None:
    assert parse_role(text) == expected


@pytest.mark.parametrize("text", ["dps", "DPS", "", "  ", "heals", "caster", "Frost", None])
def test_parse_role_rejects_dps_and_unknown_words(text: str | None) -> None:
    assert parse_role(text) is None


@pytest.mark.parametrize(
    ("role", "label"),
    [
        ("tank", "Tank"),
        ("healer", "Healer"),
        ("melee_dps", "Melee"),
        ("ranged_dps", "Ranged"),
        ("dps", None),
        (None, None),
    ],
)
def test_legacy_role_label(role: str | None, label: str | None) -> None:
    assert legacy_role_label(role) == label


def test_role_for_explicit_wins_over_table() -> None:
    assert role_for("Death Knight", "Blood", "healer") == "healer"
    assert role_for("Mage", "Fire", "Melee") == "melee_dps"
    assert role_for(None, None, "ranged dps") == "ranged_dps"


def test_role_for_dps_is_not_a_role_and_is_derived() -> None:
    assert role_for("Hunter", "Survival", "DPS") == "melee_dps"
    assert role_for("Mage", "Fire", "DPS") == "ranged_dps"
    assert role_for("Mage", None, "dps") is None


def test_role_for_unrecognised_explicit_falls_through_to_table() -> None:
    assert role_for("Druid", "Guardian", "bear") == "tank"


def test_role_for_every_table_row() -> None:
    for spec in SPECS:
        assert role_for(spec.class_name, spec.spec_name) == spec.role


def test_role_for_frost_depends_on_class() -> None:
    assert role_for("Death Knight", "Frost") == "melee_dps"
    assert role_for("Mage", "Frost") == "ranged_dps"
    assert role_for("deathknight", "FROST") == "melee_dps"
    assert role_for(None, "Frost") is None
    assert role_for("Necromancer", "Frost") is None
    assert role_for("Paladin", "Frost") is None


@pytest.mark.parametrize(
    ("spec_name", "role"),
    [
        ("Holy", "healer"),
        ("Protection", "tank"),
        ("Restoration", "healer"),
        ("restoration", "healer"),
        ("Beast Mastery", "ranged_dps"),
        ("beast-mastery", "ranged_dps"),
        ("Survival", "melee_dps"),
        ("Devourer", "ranged_dps"),
        ("Blood", "tank"),
        ("Mistweaver", "healer"),
    ],
)
def test_role_for_spec_alone_when_unambiguous(spec_name: str, role: str) -> None:
    assert role_for(None, spec_name) == role
    assert role_for("Unknown", spec_name) == role


def test_role_for_nothing_known_is_none() -> None:
    assert role_for(None, None) is None
    assert role_for("Mage", None) is None
    assert role_for("Mage", "Tankiness") is None
    assert role_for(None, "") is None


# --- ids and tokens --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("class_id", "name"),
    [
        (1, "Warrior"),
        (2, "Paladin"),
        (3, "Hunter"),
        (4, "Rogue"),
        (5, "Priest"),
        (6, "Death Knight"),
        (7, "Shaman"),
        (8, "Mage"),
        (9, "Warlock"),
        (10, "Monk"),
        (11, "Druid"),
        (12, "Demon Hunter"),
        (13, "Evoker"),
        (0, None),
        (14, None),
        (None, None),
    ],
)
def test_class_id_to_name(class_id: int | None, name: str | None) -> None:
    assert class_id_to_name(class_id) == name


@pytest.mark.parametrize(
    ("token", "name"),
    [
        ("DEATHKNIGHT", "Death Knight"),
        ("DEMONHUNTER", "Demon Hunter"),
        ("DRUID", "Druid"),
        ("EVOKER", "Evoker"),
        ("HUNTER", "Hunter"),
        ("MAGE", "Mage"),
        ("MONK", "Monk"),
        ("PALADIN", "Paladin"),
        ("PRIEST", "Priest"),
        ("ROGUE", "Rogue"),
        ("SHAMAN", "Shaman"),
        ("WARLOCK", "Warlock"),
        ("WARRIOR", "Warrior"),
        (" druid ", "Druid"),
        ("UNKNOWN", None),
        ("DEATH KNIGHT", None),
        ("", None),
        (None, None),
    ],
)
def test_class_token_to_name(token: str | None, name: str | None) -> None:
    assert class_token_to_name(token) == name


# --- JSON for pages --------------------------------------------------------------------------


def test_table_as_json_shape() -> None:
    table = table_as_json()
    assert json.loads(json.dumps(table)) == table
    assert [entry["name"] for entry in table["classes"]] == ALL_CLASSES
    death_knight = table["classes"][0]
    assert death_knight["colour"] == "#C41E3A"
    assert death_knight["specs"][0] == {
        "name": "Blood",
        "role": "tank",
        "raidHelper": "Blood",
        "wowhead": "s",
    }
    assert [spec["name"] for spec in death_knight["specs"]] == ["Blood", "Frost", "Unholy"]


def test_table_as_json_devourer_has_null_wowhead() -> None:
    demon_hunter = table_as_json()["classes"][1]
    assert demon_hunter["specs"][2] == {
        "name": "Devourer",
        "role": "ranged_dps",
        "raidHelper": "Devourer",
        "wowhead": None,
    }
    assert '"wowhead": null' in json.dumps(demon_hunter)


def test_table_as_json_covers_every_spec_in_order() -> None:
    flattened = [
        (entry["name"], spec["name"])
        for entry in table_as_json()["classes"]
        for spec in entry["specs"]
    ]
    assert flattened == [(spec.class_name, spec.spec_name) for spec in SPECS]
