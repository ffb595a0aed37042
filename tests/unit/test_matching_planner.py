"""The matching planner on in-memory snapshots: strategies, ambiguity, rejections, greedy fuzzy."""

from __future__ import annotations

from sv_common.identity.integrity.rules import issue_hash
from sv_common.identity.matching.model import (
    AccountRow,
    CharacterRow,
    MemberRow,
    Plan,
    RankRow,
    Snapshot,
    member_values_for_account,
)
from sv_common.identity.matching.planner import plan_matching

RANKS = [
    RankRow(1, "Initiate", 1),
    RankRow(2, "Member", 2),
    RankRow(3, "Veteran", 3),
    RankRow(4, "Officer", 4),
    RankRow(5, "Guild Leader", 5),
]


def snapshot(
    *,
    members: list[MemberRow] | None = None,
    accounts: list[AccountRow] | None = None,
    characters: list[CharacterRow] | None = None,
    **extra: object,
) -> Snapshot:
    return Snapshot(
        ranks=RANKS,
        members=members or [],
        accounts=accounts or [],
        characters=characters or [],
        **extra,  # type: ignore[arg-type]
    )


def account(ident: int, username: str, **kw: object) -> AccountRow:
    return AccountRow(id=ident, discord_id=f"{900 + ident}", username=username, **kw)  # type: ignore[arg-type]


def char_links(plan: Plan) -> dict[int, tuple[int, str]]:
    return {
        link.character_id or 0: (link.member_ref, str(link.source)) for link in plan.character_links
    }


def account_links(plan: Plan) -> dict[int, int]:
    return {link.account_id or 0: link.member_ref for link in plan.account_links}


# ----------------------------------------------------------------------------- step A
def test_a1_snowflake_before_a2_username() -> None:
    plan = plan_matching(
        snapshot(
            members=[MemberRow(1, "Snow", discord_id="901"), MemberRow(2, "Name", "stonehoof")],
            accounts=[account(1, "stonehoof")],
        )
    )
    assert account_links(plan) == {1: 1}
    assert plan.account_links[0].source == "discord_sync"
    assert plan.member_discord_ids == []


def test_a2_username_sets_the_snowflake() -> None:
    plan = plan_matching(
        snapshot(members=[MemberRow(2, "Name", "Stone.Hoof")], accounts=[account(1, "stonehoof")])
    )
    assert account_links(plan) == {1: 2}
    assert plan.account_links[0].source == "exact_name_match"
    assert plan.member_discord_ids == [(2, "901")]


def test_a2_two_accounts_with_one_key_link_neither() -> None:
    plan = plan_matching(
        snapshot(
            members=[MemberRow(2, "Name", "stonehoof")],
            accounts=[account(1, "stonehoof"), account(2, "stone.hoof")],
        )
    )
    assert plan.account_links == []


def test_a_skips_rejected_departed_and_linked_accounts() -> None:
    plan = plan_matching(
        snapshot(
            members=[MemberRow(1, "A", discord_id="901"), MemberRow(2, "B", discord_id="902")],
            accounts=[
                account(1, "one"),
                account(2, "two", is_present=False),
                account(3, "three", member_id=1),
            ],
            rejected_account_member={(1, 1)},
        )
    )
    assert plan.account_links == []


# ----------------------------------------------------------------------------- B1–B4
def test_b1_creates_a_member_for_an_unlinked_account() -> None:
    plan = plan_matching(
        snapshot(
            accounts=[account(7, "aldrameth", nickname="Aldra", highest_guild_role="veteran")],
            characters=[CharacterRow(1, "Aldrameth")],
        )
    )
    (new,) = plan.new_members
    assert (new.display_name, new.discord_username, new.discord_id) == ("Aldra", "aldrameth", "907")
    assert (new.rank_id, new.rank_source) == (3, "discord_sync")
    assert char_links(plan) == {1: (new.ref, "exact_name_match")}
    assert account_links(plan) == {7: new.ref}
    assert plan.stats.members_created == 1 and plan.stats.exact == 1


def test_new_member_avoids_taken_username_and_snowflake() -> None:
    values = member_values_for_account(
        account(1, "aldrameth"), RANKS, username_taken=True, discord_id_taken=True
    )
    assert values is not None
    assert values["discord_username"] is None and values["discord_id"] is None
    assert (values["rank_id"], values["rank_source"]) == (1, "manual")
    assert (
        member_values_for_account(account(1, "x"), [], username_taken=False, discord_id_taken=False)
        is None
    )


def test_two_characters_of_one_new_account_share_the_member() -> None:
    plan = plan_matching(
        snapshot(
            accounts=[account(1, "aldrameth", nickname="Aldrameth (Bankalt)")],
            characters=[CharacterRow(1, "Aldrameth"), CharacterRow(2, "Bankalt")],
        )
    )
    assert len(plan.new_members) == 1
    links = char_links(plan)
    assert links[1][0] == links[2][0] == plan.new_members[0].ref
    assert links[2][1] == "exact_name_match" and plan.stats.token == 1


def test_rejected_target_is_skipped_and_the_other_wins() -> None:
    plan = plan_matching(
        snapshot(
            members=[MemberRow(1, "One", "stonehoof"), MemberRow(2, "Two", "stone_hoof")],
            characters=[CharacterRow(5, "Stonehoof")],
            rejected_character_member={(5, 1)},
        )
    )
    assert char_links(plan) == {5: (2, "exact_name_match")}


def test_rejected_account_blocks_its_member_too() -> None:
    plan = plan_matching(
        snapshot(
            members=[MemberRow(1, "One")],
            accounts=[account(3, "stonehoof", member_id=1)],
            characters=[CharacterRow(5, "Stonehoof")],
            rejected_character_account={(5, 3)},
        )
    )
    assert plan.character_links == [] and plan.suggestions == []


def test_linked_and_removed_characters_are_not_touched() -> None:
    plan = plan_matching(
        snapshot(
            members=[MemberRow(1, "One", "stonehoof")],
            characters=[
                CharacterRow(1, "Stonehoof", member_id=None, in_guild=False),
                CharacterRow(2, "Stonehoof", realm_slug="other", member_id=1),
            ],
        )
    )
    assert plan.character_links == []
    assert plan.stats.unmatched == 0 and plan.stats.ambiguous == 0


def test_character_hint_with_realm_picks_that_realm() -> None:
    plan = plan_matching(
        snapshot(
            members=[MemberRow(1, "One"), MemberRow(2, "Two")],
            characters=[
                CharacterRow(1, "Aldrameth", realm_slug="senjin", member_id=1),
                CharacterRow(2, "Aldrameth", realm_slug="area-52", member_id=2),
                CharacterRow(3, "Bankalt", guild_note="alt of Aldrameth-Area52"),
                CharacterRow(4, "Otheralt", guild_note="alt of Aldrameth"),
            ],
        )
    )
    assert char_links(plan) == {3: (2, "guild_note")}
    assert plan.stats.ambiguous == 1  # Otheralt: two Aldrameths, two people


def test_in_guild_named_character_wins_over_one_that_left() -> None:
    plan = plan_matching(
        snapshot(
            members=[MemberRow(1, "One"), MemberRow(2, "Two")],
            characters=[
                CharacterRow(1, "Aldrameth", realm_slug="a", member_id=1, in_guild=False),
                CharacterRow(2, "Aldrameth", realm_slug="b", member_id=2),
                CharacterRow(3, "Bankalt", officer_note="main: Aldrameth"),
            ],
        )
    )
    assert char_links(plan) == {3: (2, "officer_note")}


def test_guild_note_is_tried_before_officer_note() -> None:
    plan = plan_matching(
        snapshot(
            accounts=[account(1, "first", member_id=1), account(2, "second", member_id=2)],
            members=[MemberRow(1, "One"), MemberRow(2, "Two")],
            characters=[
                CharacterRow(3, "Bankalt", guild_note="dc: first", officer_note="dc: second")
            ],
        )
    )
    assert char_links(plan) == {3: (1, "guild_note")}


def test_ambiguous_exact_falls_through_to_the_notes() -> None:
    plan = plan_matching(
        snapshot(
            accounts=[
                account(1, "stonehoof", member_id=1),
                account(2, "xena", nickname="Stonehoof", member_id=2),
            ],
            members=[MemberRow(1, "One"), MemberRow(2, "Two")],
            characters=[CharacterRow(3, "Stonehoof", guild_note="@xena")],
        )
    )
    assert char_links(plan) == {3: (2, "guild_note")}


def test_passes_stop_after_three() -> None:
    # a chain of four alts, each created before the one it names, needs four passes
    characters = [
        CharacterRow(1, "Alpha", guild_note="alt of Bravo"),
        CharacterRow(2, "Bravo", guild_note="alt of Charlie"),
        CharacterRow(3, "Charlie", guild_note="alt of Delta"),
        CharacterRow(4, "Delta", guild_note="alt of Echo"),
        CharacterRow(5, "Echo", member_id=1),
    ]
    plan = plan_matching(snapshot(members=[MemberRow(1, "One")], characters=characters))
    assert set(char_links(plan)) == {2, 3, 4}
    assert plan.stats.unmatched == 1


# ----------------------------------------------------------------------------- B5
def test_fuzzy_auto_link_and_suggestion() -> None:
    plan = plan_matching(
        snapshot(
            accounts=[account(1, "aldrameth"), account(2, "zoelie")],
            characters=[CharacterRow(1, "Aldramethh"), CharacterRow(2, "Zoëlle")],
        )
    )
    assert char_links(plan) == {1: (plan.new_members[0].ref, "fuzzy_match")}
    assert plan.character_links[0].confidence == "medium" and not plan.character_links[0].confirmed
    assert [(s.character_id, s.account_id) for s in plan.suggestions] == [(2, 2)]
    assert plan.stats.fuzzy == 1


def test_fuzzy_ignores_accounts_of_members_with_characters() -> None:
    plan = plan_matching(
        snapshot(
            members=[MemberRow(1, "One")],
            accounts=[account(1, "aldrameth", member_id=1)],
            characters=[CharacterRow(1, "Other", member_id=1), CharacterRow(2, "Aldramethh")],
        )
    )
    assert plan.character_links == [] and plan.suggestions == []


def test_fuzzy_tie_on_the_account_side_links_nothing() -> None:
    plan = plan_matching(
        snapshot(
            accounts=[account(1, "aldrameth")],
            characters=[CharacterRow(1, "Aldramethx"), CharacterRow(2, "Aldramethy")],
        )
    )
    assert plan.character_links == []
    assert sorted((s.character_id, s.account_id) for s in plan.suggestions) == [(1, 1), (2, 1)]
    assert plan.stats.ambiguous == 2


def test_fuzzy_two_accounts_of_one_member_are_no_tie() -> None:
    plan = plan_matching(
        snapshot(
            members=[MemberRow(1, "One")],
            accounts=[account(1, "aldramethx", member_id=1), account(2, "aldramethy", member_id=1)],
            characters=[CharacterRow(1, "Aldrameth")],
        )
    )
    assert char_links(plan) == {1: (1, "fuzzy_match")}


def test_ignored_suggestion_is_not_proposed_again() -> None:
    plan = plan_matching(
        snapshot(
            accounts=[account(1, "zoelie")],
            characters=[CharacterRow(2, "Zoëlle")],
            ignored_hashes={issue_hash("auto_link_suggestion", 2, 1)},
        )
    )
    assert plan.suggestions == []


def test_fuzzy_thresholds_are_settings() -> None:
    snap = snapshot(accounts=[account(1, "zoelie")], characters=[CharacterRow(2, "Zoëlle")])
    assert char_links(plan_matching(snap, fuzzy_auto_link=0.80, fuzzy_suggest=0.70))
    assert not plan_matching(snap, fuzzy_auto_link=0.95, fuzzy_suggest=0.90).suggestions


def test_stats_add_up() -> None:
    plan = plan_matching(
        snapshot(
            accounts=[account(1, "aldrameth"), account(2, "a1"), account(3, "x", nickname="a1")],
            characters=[
                CharacterRow(1, "Aldrameth"),
                CharacterRow(2, "Nobody"),
                CharacterRow(3, "Aone"),
            ],
        )
    )
    stats = plan.stats
    linked = stats.exact + stats.guild_note + stats.officer_note + stats.token + stats.fuzzy
    assert linked + stats.ambiguous + stats.unmatched == 3
