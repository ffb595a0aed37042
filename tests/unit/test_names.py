"""Name normalisation: the table of the identity chapter, accents, special letters, tokens."""

from __future__ import annotations

import pytest

from sv_common.identity.names import key, norm, tokens


@pytest.mark.parametrize(
    ("text", "normed", "keyed", "words"),
    [
        ("Zoëlle", "zoelle", "zoelle", []),
        ("Brañix", "branix", "branix", []),
        ("  Stonehoof ", "stonehoof", "stonehoof", []),
        ("stone.hoof_", "stone.hoof_", "stonehoof", ["stone", "hoof"]),
        (
            "Stonehoof (Aldrameth)",
            "stonehoof (aldrameth)",
            "stonehoofaldrameth",
            ["stonehoof", "aldrameth"],
        ),
        ("ÉLODIE", "elodie", "elodie", []),
    ],
)
def test_normalisation_table(text: str, normed: str, keyed: str, words: list[str]) -> None:
    assert norm(text) == normed
    assert key(text) == keyed
    assert tokens(text) == words


@pytest.mark.parametrize(
    ("text", "keyed"),
    [
        ("Straße", "strasse"),
        ("STRAẞE", "strasse"),
        ("Bjørn", "bjorn"),
        ("BJØRN", "bjorn"),
        ("Æsir", "aesir"),
        ("Œuvre", "oeuvre"),
        ("Łukasz", "lukasz"),
        ("Ðorð", "dord"),
        ("Þór", "thor"),
        ("Kadıköy", "kadikoy"),
        ("Ñandú", "nandu"),
        ("ｆｕｌｌｗｉｄｔｈ", "fullwidth"),  # NFKD folds compatibility forms
    ],
)
def test_special_letters_and_accents(text: str, keyed: str) -> None:
    assert key(text) == keyed


def test_none_and_blank() -> None:
    assert norm(None) == "" and key(None) == "" and tokens(None) == []
    assert norm("   ") == "" and key("-_.") == ""


def test_inner_whitespace_collapses() -> None:
    assert norm("Big \t  Bad\nWolf") == "big bad wolf"


def test_tokens_drop_short_words_duplicates_and_the_whole_name() -> None:
    assert tokens("Al | Aldrameth") == ["aldrameth"]
    assert tokens("Aldrameth") == []
    assert tokens("Aldra - aldra - Stone") == ["aldra", "stone"]
    assert tokens("Zoë/Brañix") == ["zoe", "branix"]
