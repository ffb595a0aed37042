"""Discord role → rank resolution (70 §4): ids first, names only for unmapped ranks, GM alias,
highest wins, and role names with odd Unicode."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sv_common.discord.interface import DiscordRole
from sv_common.discord.role_sync import highest_rank, normalise_role_name, ranks_for_roles


@dataclass
class Rank:
    id: int
    name: str
    level: int
    discord_role_id: str | None = None


def default_ranks() -> list[Rank]:
    return [
        Rank(1, "Initiate", 1),
        Rank(2, "Member", 2),
        Rank(3, "Veteran", 3),
        Rank(4, "Officer", 4),
        Rank(5, "Guild Leader", 5),
    ]


def role(name: str, role_id: str = "200000000000000777") -> DiscordRole:
    return DiscordRole(id=role_id, name=name)


def names(ranks: list[Rank]) -> list[str]:
    return [r.name for r in ranks]


def test_highest_of_several_roles_wins_and_all_are_listed_highest_first() -> None:
    roles = [role("Member", "1" * 18), role("Officer", "2" * 18), role("Veteran", "3" * 18)]
    matched = ranks_for_roles(roles, default_ranks())
    assert names(matched) == ["Officer", "Veteran", "Member"]
    assert highest_rank(roles, default_ranks()).name == "Officer"  # type: ignore[union-attr]


def test_gm_role_means_the_top_rank() -> None:
    assert names(ranks_for_roles([role("GM")], default_ranks())) == ["Guild Leader"]
    assert names(ranks_for_roles([role("Guild Leader")], default_ranks())) == ["Guild Leader"]


def test_gm_alias_follows_a_renamed_top_rank() -> None:
    ranks = default_ranks()
    ranks[4].name = "Warchief"
    assert names(ranks_for_roles([role("gm")], ranks)) == ["Warchief"]


def test_everyone_booster_and_unknown_roles_are_ignored() -> None:
    roles = [role("@everyone"), role("Server Booster"), role("Raid Team")]
    assert ranks_for_roles(roles, default_ranks()) == []
    assert highest_rank(roles, default_ranks()) is None


def test_configured_role_id_beats_the_name() -> None:
    ranks = default_ranks()
    ranks[3].discord_role_id = "200000000000000042"  # Officer is mapped by id
    # A role merely *named* Officer no longer makes anyone an officer …
    assert ranks_for_roles([role("Officer", "200000000000000043")], ranks) == []
    # … the configured role does, whatever it is called now (renames survive).
    assert names(ranks_for_roles([role("Raid Lead", "200000000000000042")], ranks)) == ["Officer"]


def test_names_still_match_ranks_without_an_id() -> None:
    ranks = default_ranks()
    ranks[3].discord_role_id = "200000000000000042"
    assert names(ranks_for_roles([role("Veteran")], ranks)) == ["Veteran"]


def test_gm_alias_is_off_once_the_top_rank_has_a_role_id() -> None:
    ranks = default_ranks()
    ranks[4].discord_role_id = "200000000000000050"
    assert ranks_for_roles([role("GM", "200000000000000051")], ranks) == []


@pytest.mark.parametrize(
    "name",
    [
        "officer",
        "OFFICER",
        "  Officer ",
        "Officer\u200b",  # zero-width space
        "\u200fOfficer\u200e",  # RTL / LTR marks
        "Off\u00adicer",  # soft hyphen
        "\ufeffOfficer",  # byte-order mark
        "Ｏｆｆｉｃｅｒ",  # full-width letters (NFKC)
    ],
)
def test_case_space_and_invisible_character_variants_match(name: str) -> None:
    assert names(ranks_for_roles([role(name)], default_ranks())) == ["Officer"]


@pytest.mark.parametrize("name", ["Guild  Leader", "guild\u00a0leader", "Guild\tLeader"])
def test_inner_whitespace_variants_match(name: str) -> None:
    assert names(ranks_for_roles([role(name)], default_ranks())) == ["Guild Leader"]


@pytest.mark.parametrize(
    "name",
    [
        "Оfficer",  # Cyrillic capital O: a look-alike, not the same role
        "Officers",
        "Off icer",
        "GuildLeader",
        "G M",
    ],
)
def test_look_alikes_and_different_names_do_not_match(name: str) -> None:
    assert ranks_for_roles([role(name)], default_ranks()) == []


def test_normalised_names() -> None:
    assert normalise_role_name(" \u200bGuild\u00a0 LEADER\u200f ") == "guild leader"


def test_no_ranks_means_no_match() -> None:
    assert ranks_for_roles([role("GM")], []) == []
