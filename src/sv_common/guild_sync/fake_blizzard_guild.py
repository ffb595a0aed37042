"""Data of the fake Blizzard API: a two-character example guild (Aldrameth on Sen'jin, Zoëlle
on Bleeding Hollow) and a deterministic generator of large guilds, in Blizzard's JSON shapes
with their unused keys, so parsers meet what the real API sends."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sv_common.identity import classes

API = "https://us.api.blizzard.com"
GUILD_NAME = "Pull All The Things"
GUILD_ID = 70000001
HOME_REALM = ("senjin", "Sen'jin", 1001)
REALMS: tuple[tuple[str, str, int], ...] = (
    HOME_REALM,
    ("bleeding-hollow", "Bleeding Hollow", 1002),
    ("kelthuzad", "Kel'Thuzad", 1003),
    ("area-52", "Area 52", 1004),
    ("aerie-peak", "Aerie Peak", 1005),
)
# Horde races (the guild is Horde); Evokers are Dracthyr.
RACES: tuple[tuple[int, str], ...] = (
    (2, "Orc"),
    (5, "Undead"),
    (6, "Tauren"),
    (8, "Troll"),
    (9, "Goblin"),
    (10, "Blood Elf"),
)
DRACTHYR = (52, "Dracthyr")
CLASS_IDS: dict[str, int] = {
    name: class_id
    for class_id in range(1, 14)
    if (name := classes.class_id_to_name(class_id)) is not None
}


def _href(path: str) -> dict[str, str]:
    return {"href": f"{API}{path}?namespace=profile-us"}


# ------------------------------------------------------------------------------ fixture data
def roster_member(
    *,
    blizzard_id: int,
    name: str,
    realm_slug: str,
    realm_id: int,
    level: int,
    class_id: int,
    race_id: int,
    rank: int,
) -> dict[str, Any]:
    """One roster member in Blizzard's shape (realm name absent, as in real roster entries)."""
    return {
        "character": {
            "key": _href(f"/profile/wow/character/{realm_slug}/{quote(name.lower(), safe='')}"),
            "name": name,
            "id": blizzard_id,
            "realm": {
                "key": _href(f"/data/wow/realm/{realm_id}"),
                "id": realm_id,
                "slug": realm_slug,
            },
            "level": level,
            "playable_class": {
                "key": _href(f"/data/wow/playable-class/{class_id}"),
                "id": class_id,
            },
            "playable_race": {"key": _href(f"/data/wow/playable-race/{race_id}"), "id": race_id},
        },
        "rank": rank,
    }


def roster_document(
    members: list[dict[str, Any]], *, guild_name: str = GUILD_NAME
) -> dict[str, Any]:
    """A roster response around `members`."""
    slug, realm_name, realm_id = HOME_REALM
    return {
        "_links": {"self": _href(f"/data/wow/guild/{slug}/pull-all-the-things/roster")},
        "guild": {
            "key": _href(f"/data/wow/guild/{slug}/pull-all-the-things"),
            "name": guild_name,
            "id": GUILD_ID,
            "realm": {
                "key": _href(f"/data/wow/realm/{realm_id}"),
                "name": realm_name,
                "id": realm_id,
                "slug": slug,
            },
            "faction": {"type": "HORDE", "name": "Horde"},
        },
        "members": members,
    }


def profile_document(
    *,
    blizzard_id: int,
    name: str,
    realm: tuple[str, str, int],
    class_name: str,
    spec: str | None,
    race: tuple[int, str],
    level: int,
    item_level: int,
    last_login_ms: int,
    gender: str = "Female",
    guild_name: str = GUILD_NAME,
) -> dict[str, Any]:
    """A character profile response (`active_spec` left out when `spec` is None, as Blizzard
    does for some low-level characters)."""
    slug, realm_name, realm_id = realm
    class_id = CLASS_IDS[class_name]
    document: dict[str, Any] = {
        "_links": {"self": _href(f"/profile/wow/character/{slug}/{quote(name.lower(), safe='')}")},
        "id": blizzard_id,
        "name": name,
        "gender": {"type": gender.upper(), "name": gender},
        "faction": {"type": "HORDE", "name": "Horde"},
        "race": {
            "key": _href(f"/data/wow/playable-race/{race[0]}"),
            "name": race[1],
            "id": race[0],
        },
        "character_class": {
            "key": _href(f"/data/wow/playable-class/{class_id}"),
            "name": class_name,
            "id": class_id,
        },
        "realm": {
            "key": _href(f"/data/wow/realm/{realm_id}"),
            "name": realm_name,
            "id": realm_id,
            "slug": slug,
        },
        "guild": {"name": guild_name, "id": GUILD_ID},
        "level": level,
        "experience": 0,
        "achievement_points": 14210,
        "last_login_timestamp": last_login_ms,
        "average_item_level": item_level + 3,
        "equipped_item_level": item_level,
    }
    if spec is not None:
        document["active_spec"] = {
            "key": _href("/data/wow/playable-specialization/0"),
            "name": spec,
            "id": 0,
        }
    return document


def fixture_roster() -> dict[str, Any]:
    """The two-member example roster (Aldrameth, guild leader; Zoëlle, member on another realm)."""
    return roster_document(
        [
            roster_member(
                blizzard_id=200000001, name="Aldrameth", realm_slug="senjin", realm_id=1001,
                level=80, class_id=11, race_id=6, rank=0,
            ),
            roster_member(
                blizzard_id=200000002, name="Zoëlle", realm_slug="bleeding-hollow", realm_id=1002,
                level=80, class_id=8, race_id=10, rank=3,
            ),
        ]
    )  # fmt: skip


def fixture_profiles() -> dict[tuple[str, str], dict[str, Any]]:
    """Profiles of the example roster, keyed by (realm slug, lower-case name)."""
    return {
        ("senjin", "aldrameth"): profile_document(
            blizzard_id=200000001, name="Aldrameth", realm=HOME_REALM, class_name="Druid",
            spec="Balance", race=(6, "Tauren"), level=80, item_level=624,
            last_login_ms=1771700000000, gender="Male",
        ),
        ("bleeding-hollow", "zoëlle"): profile_document(
            blizzard_id=200000002, name="Zoëlle", realm=REALMS[1], class_name="Mage",
            spec="Fire", race=(10, "Blood Elf"), level=80, item_level=618,
            last_login_ms=1771600000000,
        ),
    }  # fmt: skip


# --------------------------------------------------------------------------- generated guild
_SYLLABLES = (
    "al", "dra", "meth", "zo", "el", "le", "bra", "nix", "kor", "tha", "vel", "mi", "ra", "shan",
    "dor", "gal", "ith", "mor", "nae", "ul", "fen", "kai", "lun", "osa", "pyr", "qua", "ryn",
    "sil", "tor", "vash", "wyn", "xal", "yor", "zen", "bel", "cae", "dun", "eri", "fal", "gor",
)  # fmt: skip
_ACCENTS = {"e": "ë", "a": "á", "n": "ñ", "o": "ö", "i": "í", "u": "ú"}


def _folded(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum() and not unicodedata.combining(ch))


@dataclass
class FakeGuild:
    """A generated roster and its profiles (some deliberately missing, answering 404)."""

    roster: dict[str, Any]
    profiles: dict[tuple[str, str], dict[str, Any]]
    missing_profiles: int


def _character_name(rng: random.Random) -> str:
    name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 2, 3))))[:12]
    roll = rng.random()
    if roll < 0.12:  # accented letter, as players love them
        positions = [i for i, ch in enumerate(name) if ch in _ACCENTS and i > 0]
        if positions:
            i = rng.choice(positions)
            name = name[:i] + _ACCENTS[name[i]] + name[i + 1 :]
    elif roll < 0.14 and len(name) > 4:  # rare apostrophe, to exercise URL encoding
        name = name[:2] + "'" + name[2:]
    return name[:1].upper() + name[1:]


def generate_guild(
    members: int,
    *,
    seed: int = 1,
    not_found_fraction: float = 0.02,
    first_id: int = 200100000,
) -> FakeGuild:
    """A deterministic guild of `members` characters across five realms (mostly the home realm),
    all classes, ranks 0-4 (plus a few unnamed ranks), some low-level characters without a spec,
    and `not_found_fraction` of profiles missing."""
    rng = random.Random(seed)
    taken: set[tuple[str, str]] = set()
    roster_members: list[dict[str, Any]] = []
    profiles: dict[tuple[str, str], dict[str, Any]] = {}
    missing = 0
    for index in range(members):
        realm = HOME_REALM if rng.random() < 0.7 else rng.choice(REALMS[1:])
        while True:
            name = _character_name(rng)
            # Unique by the folded name (Zoëlle = Zoelle), as a real guild rarely has both.
            if (_folded(name), realm[0]) not in taken:
                break
        taken.add((_folded(name), realm[0]))
        class_name = rng.choice(classes.CLASSES)
        specs = classes.specs_for(class_name)
        level = 80 if rng.random() < 0.85 else rng.randint(5, 79)
        spec = rng.choice(specs).spec_name if level >= 10 else None
        race = DRACTHYR if class_name == "Evoker" else rng.choice(RACES)
        rank = (
            0 if index == 0 else rng.choices((1, 2, 3, 4, 5, 6), weights=(3, 10, 50, 30, 4, 3))[0]
        )
        blizzard_id = first_id + index
        roster_members.append(
            roster_member(
                blizzard_id=blizzard_id, name=name, realm_slug=realm[0], realm_id=realm[2],
                level=level, class_id=CLASS_IDS[class_name], race_id=race[0], rank=rank,
            )
        )  # fmt: skip
        if index > 0 and rng.random() < not_found_fraction:
            missing += 1
            continue
        profiles[(realm[0], name.lower())] = profile_document(
            blizzard_id=blizzard_id, name=name, realm=realm, class_name=class_name, spec=spec,
            race=race, level=level, item_level=rng.randint(560, 640) if level == 80 else level * 5,
            last_login_ms=1771700000000 - rng.randint(0, 60 * 86400) * 1000,
            gender=rng.choice(("Male", "Female")),
        )  # fmt: skip
    return FakeGuild(roster_document(roster_members), profiles, missing)
