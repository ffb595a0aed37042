"""The synthetic guild generator: deterministic, the benchmark mix, consistent ground truth."""

from __future__ import annotations

import random
from collections import Counter

from tests.fakes.synthetic_guild import generate_guild, name_pool

from sv_common.identity.matching.similarity import similar_pairs
from sv_common.identity.names import key


def test_same_seed_same_guild() -> None:
    first = generate_guild(400, 400, extra_members=20)
    second = generate_guild(400, 400, extra_members=20)
    assert first == second
    assert generate_guild(400, 400, seed=2, extra_members=20) != first


def test_benchmark_mix() -> None:
    guild = generate_guild(1000, 1000, extra_members=50)
    assert len(guild.characters) == 1000 and len(guild.accounts) == 1000
    kinds = Counter(c.kind for c in guild.characters)
    assert kinds["exact"] == 300
    assert kinds["near"] + kinds["near2"] == 100
    assert kinds["hint"] + kinds["alt"] + kinds["chain"] == 100
    assert sum(kinds[k] for k in ("noise", "noise_alt", "offline")) == 500
    assert len(guild.extra_members) == 50


def test_ground_truth_is_consistent() -> None:
    guild = generate_guild(600, 600, extra_members=0)
    account_people = {a.person for a in guild.accounts if a.person is not None}
    for character in guild.characters:
        if character.main is not None:
            main = guild.characters[character.main]
            assert main.main is None and main.person == character.person
        if character.discoverable:
            assert character.person in account_people
    assert guild.alts()
    names = [(c.name.lower(), c.realm_slug) for c in guild.characters]
    assert len(set(names)) == len(names)  # (name, realm) is unique in the table
    assert len({a.discord_id for a in guild.accounts}) == len(guild.accounts)


def test_name_pool_keeps_names_apart() -> None:
    names = name_pool(random.Random(5), 800)
    assert len(set(names)) == 800
    close = [(i, j) for i, j, _ in similar_pairs(names, names, threshold=0.70) if i != j]
    assert close == []
    assert all(key(name) == name for name in names)
