"""Unit tests for realm slugs/keys, guild slugs, armory URLs and name/snowflake checks (80 §2.6)."""

from __future__ import annotations

import unicodedata

import pytest

from sv_common.identity.realms import (
    WOW_CHARACTER_NAME_MAX_LENGTH,
    armory_url,
    guild_slug,
    is_snowflake,
    is_valid_character_name,
    realm_key,
    realm_slug,
    split_camel_realm,
)


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Sen'jin", "senjin"),
        ("Sen\u2019jin", "senjin"),
        ("Bleeding Hollow", "bleeding-hollow"),
        ("Area 52", "area-52"),
        ("Alterac Mountains", "alterac-mountains"),
        ("Kel'Thuzad", "kelthuzad"),
        ("Azjol-Nerub", "azjol-nerub"),
        ("Quel'Thalas", "quelthalas"),
        ("Aerie Peak", "aerie-peak"),
        ("  Aerie   Peak  ", "aerie-peak"),
        ("Aerie - Peak", "aerie-peak"),
        ("Drak'Tharon", "draktharon"),
        ("Zul'jin", "zuljin"),
        ("Pozzo dell'Eternità", "pozzo-delleternita"),
        ("Aggra (Português)", "aggra-portugues"),
        ("Écho de Ragnaros!", "echo-de-ragnaros"),
        ("senjin", "senjin"),
        ("", ""),
    ],
)
def test_realm_slug(name: str, slug: str) -> None:
    assert realm_slug(name) == slug


def test_realm_slug_is_idempotent() -> None:
    for name in ["Sen'jin", "Bleeding Hollow", "Area 52", "Kel'Thuzad"]:
        assert realm_slug(realm_slug(name)) == realm_slug(name)


@pytest.mark.parametrize(
    "text",
    [
        "Bleeding Hollow",
        "bleeding-hollow",
        "BleedingHollow",
        "BLEEDING_HOLLOW",
        " bleeding hollow ",
    ],
)
def test_realm_key_equal_across_origins(text: str) -> None:
    assert realm_key(text) == "bleedinghollow"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Sen'jin", "senjin"),
        ("Area 52", "area52"),
        ("Area52", "area52"),
        ("Pozzo dell'Eternità", "pozzodelleternita"),
        ("Kel\u2019Thuzad", "kelthuzad"),
    ],
)
def test_realm_key(text: str, key: str) -> None:
    assert realm_key(text) == key


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("AeriePeak", "aerie-peak"),
        ("BleedingHollow", "bleeding-hollow"),
        ("AlteracMountains", "alterac-mountains"),
        ("Area52", "area-52"),
        ("Sen'jin", "senjin"),
        ("Kel'Thuzad", "kelthuzad"),
        ("Senjin", "senjin"),
        ("Azjol-Nerub", "azjol-nerub"),
        ("AzjolNerub", "azjol-nerub"),
    ],
)
def test_split_camel_realm(text: str, slug: str) -> None:
    assert split_camel_realm(text) == slug


def test_split_camel_realm_agrees_with_realm_key() -> None:
    assert realm_key(split_camel_realm("BleedingHollow")) == realm_key("Bleeding Hollow")


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Pull All The Things", "pull-all-the-things"),
        ("Knights' Watch", "knights-watch"),
        ("Knights\u2019 Watch", "knights-watch"),
        ("  Pull All The Things ", "pull-all-the-things"),
    ],
)
def test_guild_slug(name: str, slug: str) -> None:
    assert guild_slug(name) == slug


def test_armory_url_senjin_has_no_apostrophe() -> None:
    url = armory_url("Shieldwall", realm_slug("Sen'jin"))
    assert url == "https://worldofwarcraft.blizzard.com/en-us/character/us/senjin/shieldwall"
    assert "'" not in url


def test_armory_url_percent_encodes_lower_cased_utf8() -> None:
    assert armory_url("Zatañña", "senjin") == (
        "https://worldofwarcraft.blizzard.com/en-us/character/us/senjin/zata%C3%B1%C3%B1a"
    )
    assert armory_url("Zoëlle", "senjin").endswith("/senjin/zo%C3%ABlle")
    assert armory_url("Brañix", "senjin").endswith("/senjin/bra%C3%B1ix")
    assert armory_url("ZOËLLE", "senjin").endswith("/zo%C3%ABlle")


def test_armory_url_decomposed_name_matches_composed() -> None:
    decomposed = unicodedata.normalize("NFD", "Zoëlle")
    assert armory_url(decomposed, "senjin") == armory_url("Zoëlle", "senjin")


def test_armory_url_region_and_locale() -> None:
    assert armory_url("Moonbeard", "silvermoon", region="eu", locale="en-gb") == (
        "https://worldofwarcraft.blizzard.com/en-gb/character/eu/silvermoon/moonbeard"
    )


@pytest.mark.parametrize(
    "name",
    ["Moonpie", "Zatañña", "Zoëlle", "Brañix", "Ab", "Þórr", "Аркадий", "A" * 50],
)
def test_valid_character_names(name: str) -> None:
    assert is_valid_character_name(name)


def test_decomposed_accents_count_as_letters() -> None:
    assert is_valid_character_name(unicodedata.normalize("NFD", "Zoëlle"))


@pytest.mark.parametrize(
    "name",
    [
        "",
        "A",
        "A" * 51,
        "Moon pie",
        "Moonpie2",
        "Moon-pie",
        "O'Neil",
        " Moonpie",
        "<img src=x>",
    ],
)
def test_invalid_character_names(name: str) -> None:
    assert not is_valid_character_name(name)


def test_wow_length_limit_for_form_and_import() -> None:
    assert is_valid_character_name("A" * 12, max_length=WOW_CHARACTER_NAME_MAX_LENGTH)
    assert not is_valid_character_name("A" * 13, max_length=WOW_CHARACTER_NAME_MAX_LENGTH)
    assert is_valid_character_name("A" * 13)


@pytest.mark.parametrize(
    "text",
    ["1" * 17, "100000000000000001", "123456789012345678", "1" * 19, "1" * 20],
)
def test_snowflake_valid(text: str) -> None:
    assert is_snowflake(text)


@pytest.mark.parametrize(
    "text",
    [
        "1" * 16,
        "1" * 21,
        "",
        "12345678901234567a",
        " 123456789012345678",
        "123456789012345678\n",
        "1.00E+17",
        "-12345678901234567",
        "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨",
        "１２３４５６７８９０１２３４５６７８",
        123456789012345678,
        None,
    ],
)
def test_snowflake_invalid(text: object) -> None:
    assert not is_snowflake(text)
