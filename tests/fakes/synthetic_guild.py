"""A deterministic, labelled synthetic guild for matching benchmarks and quality tests.

`generate_guild(characters=5000, accounts=5000)` builds people with a main, alts and a Discord
account, in the mix of the identity chapter's benchmark:

- 30 % of characters are mains whose name equals one of their account's names (username,
  global name, nickname, or a word of a "Handle (Main)" nickname), accents included;
- 10 % carry note hints: alts naming their main ("alt of X", "X's alt", "main: X-Realm"),
  alt-of-alt chains, and mains whose note gives their Discord name;
- 10 % are near-miss names of their account (one edit; a few two edits, which only reach
  the suggestion level);
- the rest is noise nobody could match: people whose Discord name has nothing to do with
  their characters (and their alts), and characters of people who are not on Discord.

Every generated name is far from every other (Indel similarity < 0.70), so the only pairs a
matcher should find are the ones planted on purpose. The result carries the ground truth:
which person owns each character and account, which characters are discoverable, and which
main each alt belongs to. Same seed, same guild.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy
from rapidfuzz import fuzz, process
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from sv_common.db.models import Character, DiscordMember, GuildMember, GuildRank

SEED = 20260301
REALMS = ("senjin", "senjin", "senjin", "senjin", "area-52", "bleeding-hollow")
REALM_NAMES = {"senjin": "Senjin", "area-52": "Area52", "bleeding-hollow": "BleedingHollow"}
RANK_NAMES = ("Guild Leader", "Officer", "Veteran", "Member", "Initiate")
RANK_WEIGHTS = (1, 12, 25, 45, 17)
CLASSES = ("Death Knight", "Druid", "Hunter", "Mage", "Paladin", "Priest", "Rogue", "Shaman")
_ONSETS = (
    "b br c d dr f g gr h j k kr l m n p r s st t th v w z sh ch qu sk tr vr bl cl fl gl pl sl"
    " sm sn sp sw"
).split()
_VOWELS = "a e i o u ae ia ou y ei ai au".split()
_CODAS = ["", "n", "r", "th", "s", "l", "m", "x", "nd", "rk", "sh", "g", "k", "t", "d"]
_ACCENTS = {"a": "á", "e": "ë", "i": "í", "o": "ö", "u": "ü", "n": "ñ"}
# Any two generated names score below the suggestion threshold, so a one-letter near miss of a
# name can never come within auto-link distance of another person's name.
SEPARATION = 70
BATCH = 1000
MAX_LENGTH = 13


@dataclass
class SyntheticCharacter:
    """A character row with its ground truth."""

    name: str
    realm_slug: str
    character_class: str
    game_rank: int
    last_login_days: int
    guild_note: str | None = None
    officer_note: str | None = None
    person: int = -1
    main: int | None = None  # index of the person's main character (None for mains)
    kind: str = "noise"  # exact, near, near2, hint, alt, chain, noise, noise_alt, offline
    discoverable: bool = False


@dataclass
class SyntheticAccount:
    """A Discord account row with its ground truth."""

    discord_id: str
    username: str
    global_name: str | None = None
    nickname: str | None = None
    highest_guild_role: str | None = None
    is_present: bool = True
    person: int | None = None

    @property
    def display_name(self) -> str:
        return self.nickname or self.global_name or self.username


@dataclass
class SyntheticGuild:
    """Characters, accounts and extra members (no Discord account, unrelated names)."""

    characters: list[SyntheticCharacter] = field(default_factory=list)
    accounts: list[SyntheticAccount] = field(default_factory=list)
    extra_members: list[str] = field(default_factory=list)

    def alts(self) -> list[tuple[int, int]]:
        """(alt index, main index) for every alt of a discoverable main."""
        return [
            (index, c.main)
            for index, c in enumerate(self.characters)
            if c.main is not None and self.characters[c.main].discoverable
        ]


def _candidate(rng: random.Random) -> str:
    syllables = rng.choice((3, 3, 4))
    parts = [rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)]
    return "".join(parts) + rng.choice(_CODAS)


def name_pool(
    rng: random.Random, count: int, *, min_length: int = 7, separation: int = SEPARATION
) -> list[str]:
    """`count` distinct lower-case names, every pair below `separation` percent similarity.

    New candidates are checked in cdist blocks against everything accepted so far (no Python
    double loop); a candidate too close to an accepted one is dropped.
    """
    accepted: list[str] = []
    seen: set[str] = set()
    while len(accepted) < count:
        batch: list[str] = []
        while len(batch) < BATCH:
            name = _candidate(rng)
            if min_length <= len(name) <= MAX_LENGTH and name not in seen:
                seen.add(name)
                batch.append(name)
        if separation > 100:  # no filtering: look-alike names stay, as in a real guild
            accepted.extend(batch[: count - len(accepted)])
            continue
        known = len(accepted)
        close = (
            process.cdist(
                batch,
                accepted + batch,
                scorer=fuzz.ratio,
                score_cutoff=separation,
                dtype=numpy.uint8,
                workers=-1,
            )
            > 0
        )
        taken = numpy.zeros(len(batch), dtype=bool)
        for row, name in enumerate(batch):
            if close[row, :known].any() or (close[row, known : known + row] & taken[:row]).any():
                continue
            taken[row] = True
            accepted.append(name)
            if len(accepted) == count:
                break
    return accepted


def _title(name: str) -> str:
    return name[:1].upper() + name[1:]


def _accented(rng: random.Random, name: str) -> str:
    positions = [i for i, ch in enumerate(name) if ch in _ACCENTS and i > 0]
    if not positions:
        return name
    i = rng.choice(positions)
    return name[:i] + _ACCENTS[name[i]] + name[i + 1 :]


def _one_edit(rng: random.Random, name: str) -> str:
    """A near-miss spelling: one letter doubled, dropped, changed, or added at the end."""
    i = rng.randrange(1, len(name))
    choice = rng.randrange(4)
    letters = "aeiourlnst"
    if choice == 0:
        return name[:i] + name[i] + name[i:]
    if choice == 1:
        return name[:i] + name[i + 1 :]
    if choice == 2:
        replacement = rng.choice([c for c in letters if c != name[i]])
        return name[:i] + replacement + name[i + 1 :]
    return name + rng.choice(letters)


def _dotted(rng: random.Random, base: str) -> str:
    """The same name with a dot or underscore inside ("stone.hoof"): an equal key."""
    cut = rng.randrange(2, len(base) - 1)
    return base[:cut] + rng.choice("._") + base[cut:]


def _handle(rng: random.Random, base: str) -> str:
    """A Discord username made from a pool name (dots, underscores or digits sometimes)."""
    style = rng.randrange(6)
    if style == 0 and len(base) > 6:
        cut = rng.randrange(3, len(base) - 2)
        return base[:cut] + rng.choice("._") + base[cut:]
    if style == 1:
        return base + str(rng.randrange(10, 99))
    return base


def generate_guild(
    characters: int = 5000,
    accounts: int = 5000,
    *,
    seed: int = SEED,
    extra_members: int = 900,
    separation: int = SEPARATION,
) -> SyntheticGuild:
    """The labelled guild; sizes scale the benchmark mix proportionally. `separation=101`
    keeps accidental look-alike names between unrelated people (no filtering)."""
    rng = random.Random(seed)
    n_exact = round(characters * 0.30)
    n_near = round(characters * 0.10)
    n_hint_total = round(characters * 0.10)
    n_hint_mains = n_hint_total // 5
    n_chain = n_hint_total // 5
    n_alts = n_hint_total - n_hint_mains - n_chain
    n_noise_total = characters - n_exact - n_near - n_hint_total
    n_noise_mains = round(n_noise_total * 0.6)
    n_noise_alts = round(n_noise_total * 0.2)
    n_offline = n_noise_total - n_noise_mains - n_noise_alts
    guild_accounts = n_exact + n_near + n_hint_mains + n_noise_mains
    n_outsiders = max(0, accounts - guild_accounts)
    pool = iter(
        name_pool(
            rng,
            # character names, handles of exact/hint/noise people, outsiders, extra members
            characters + n_exact + n_hint_mains + n_noise_mains + n_outsiders + extra_members,
            separation=separation,
        )
    )
    guild = SyntheticGuild()
    snowflake = 500000000000000000

    def add_account(username: str, person: int | None, **kw: object) -> None:
        nonlocal snowflake
        snowflake += 1
        guild.accounts.append(
            SyntheticAccount(discord_id=str(snowflake), username=username, person=person, **kw)  # type: ignore[arg-type]
        )

    def add_character(name: str, person: int, kind: str, **kw: object) -> int:
        game_rank = rng.choices(range(5), weights=RANK_WEIGHTS)[0]
        days = rng.randint(0, 25) if rng.random() < 0.8 else rng.randint(31, 200)
        guild.characters.append(
            SyntheticCharacter(
                name=name,
                realm_slug=rng.choice(REALMS),
                character_class=rng.choice(CLASSES),
                game_rank=game_rank,
                last_login_days=days,
                person=person,
                kind=kind,
                **kw,  # type: ignore[arg-type]
            )
        )
        return len(guild.characters) - 1

    def role_for(character_index: int) -> str | None:
        if rng.random() < 0.15:
            return None
        rank = guild.characters[character_index].game_rank
        if rng.random() < 0.05:  # a few people hold the wrong Discord role
            rank = min(4, rank + 1)
        return RANK_NAMES[rank]

    person = 0
    discoverable_mains: list[int] = []
    # exact names
    for _ in range(n_exact):
        base = next(pool)
        main = add_character(
            _title(_accented(rng, base) if rng.random() < 0.15 else base),
            person,
            "exact",
            discoverable=True,
        )
        style = rng.randrange(5)
        if style <= 1:
            username = base if style == 0 else _dotted(rng, base)
            add_account(username, person, highest_guild_role=role_for(main))
        else:
            handle = next(pool)
            if style == 2:
                add_account(
                    handle, person, global_name=_title(base), highest_guild_role=role_for(main)
                )
            elif style == 3:
                add_account(
                    handle, person, nickname=_title(base), highest_guild_role=role_for(main)
                )
            else:
                add_account(
                    handle,
                    person,
                    nickname=f"{_title(handle)} ({guild.characters[main].name})",
                    highest_guild_role=role_for(main),
                )
        discoverable_mains.append(main)
        person += 1
    # near misses
    for number in range(n_near):
        base = next(pool)
        spelled = _one_edit(rng, base)
        kind = "near"
        if number % 10 == 9:  # two edits: only a suggestion
            spelled = _one_edit(rng, spelled)
            kind = "near2"
        main = add_character(_title(spelled), person, kind, discoverable=kind == "near")
        add_account(base, person, highest_guild_role=role_for(main))
        if kind == "near":
            discoverable_mains.append(main)
        person += 1
    # mains whose note names their Discord account
    for _ in range(n_hint_mains):
        handle = next(pool)
        pattern = rng.choice(("DC: {}", "Discord: @{}", "@{}", "disc={}"))
        in_officer_note = rng.random() < 0.5
        note = pattern.format(handle)
        main = add_character(
            _title(next(pool)),
            person,
            "hint",
            discoverable=True,
            officer_note=note if in_officer_note else None,
            guild_note=None if in_officer_note else note,
        )
        add_account(handle, person, highest_guild_role=role_for(main))
        discoverable_mains.append(main)
        person += 1
    # alts naming their main, then alts naming those alts
    alts: list[int] = []
    for _ in range(n_alts):
        main = rng.choice(discoverable_mains)
        main_row = guild.characters[main]
        pattern = rng.choice(("alt of {}", "{}'s alt", "{}’s alt", "main: {}", "alt of {}-{}"))
        note = pattern.format(main_row.name, REALM_NAMES[main_row.realm_slug])
        alts.append(
            add_character(
                _title(next(pool)),
                main_row.person,
                "alt",
                main=main,
                discoverable=True,
                guild_note=note,
            )
        )
    for _ in range(n_chain):
        named = rng.choice(alts)
        named_row = guild.characters[named]
        add_character(
            _title(next(pool)),
            named_row.person,
            "chain",
            main=named_row.main,
            discoverable=True,
            guild_note=f"alt of {named_row.name}",
        )
    # noise: people whose Discord name tells nothing, their alts, people not on Discord
    noise_mains: list[int] = []
    for _ in range(n_noise_mains):
        main = add_character(_title(next(pool)), person, "noise")
        add_account(_handle(rng, next(pool)), person, highest_guild_role=role_for(main))
        noise_mains.append(main)
        person += 1
    for _ in range(n_noise_alts):
        main = rng.choice(noise_mains)
        add_character(
            _title(next(pool)),
            guild.characters[main].person,
            "noise_alt",
            main=main,
            guild_note=f"alt of {guild.characters[main].name}",
        )
    for _ in range(n_offline):
        add_character(_title(next(pool)), person, "offline")
        person += 1
    for _ in range(n_outsiders):
        add_account(_handle(rng, next(pool)), None, is_present=rng.random() > 0.03)
    guild.extra_members = [next(pool) for _ in range(extra_members)]
    # the database sees characters and accounts in no meaningful order
    order = list(range(len(guild.characters)))
    rng.shuffle(order)
    position = {old: new for new, old in enumerate(order)}
    shuffled = [guild.characters[old] for old in order]
    for row in shuffled:
        if row.main is not None:
            row.main = position[row.main]
    guild.characters = shuffled
    rng.shuffle(guild.accounts)
    return guild


def last_login_offset(character: SyntheticCharacter) -> timedelta:
    """How long before "now" the character last logged in."""
    return timedelta(days=character.last_login_days, hours=3)


# ------------------------------------------------------------------------- database side
@dataclass
class Quality:
    """How a matching run did against the ground truth."""

    linked: int
    correct: int
    discoverable: int
    discovered: int
    alts: int
    alts_grouped: int

    @property
    def precision(self) -> float:
        """Share of linked characters that went to the right person."""
        return self.correct / self.linked if self.linked else 1.0

    @property
    def recall(self) -> float:
        """Share of discoverable characters linked to the right person."""
        return self.discovered / self.discoverable if self.discoverable else 1.0


async def load_guild(session: AsyncSession, guild: SyntheticGuild, *, now: datetime) -> None:
    """Write the guild's accounts, characters and extra members (bulk inserts, nothing
    linked), as a first Discord sync and a first Blizzard sync would leave them."""
    lowest = await session.scalar(select(GuildRank.id).order_by(GuildRank.level).limit(1))
    if lowest is None:
        raise RuntimeError("seed the ranks first")
    await session.execute(
        insert(DiscordMember),
        [
            {
                "discord_id": a.discord_id,
                "username": a.username,
                "global_name": a.global_name,
                "nickname": a.nickname,
                "display_name": a.display_name,
                "highest_guild_role": a.highest_guild_role,
                "all_guild_roles": [a.highest_guild_role] if a.highest_guild_role else [],
                "is_present": a.is_present,
                "removed_at": None if a.is_present else now,
            }
            for a in guild.accounts
        ],
    )
    await session.execute(
        insert(Character),
        [
            {
                "name": c.name,
                "realm_slug": c.realm_slug,
                "character_class": c.character_class,
                "game_rank": c.game_rank,
                "game_rank_name": RANK_NAMES[c.game_rank],
                "guild_note": c.guild_note,
                "officer_note": c.officer_note,
                "last_login_at": now - last_login_offset(c),
                "origin": "blizzard_sync",
                "level": 80,
            }
            for c in guild.characters
        ],
    )
    if guild.extra_members:
        await session.execute(
            insert(GuildMember),
            [
                {"display_name": _title(name), "discord_username": name, "rank_id": lowest}
                for name in guild.extra_members
            ],
        )


async def evaluate(session: AsyncSession, guild: SyntheticGuild) -> Quality:
    """Compare the database's links with the ground truth (two queries)."""
    character_member = {
        (name.lower(), realm): member_id
        for name, realm, member_id in (
            await session.execute(select(Character.name, Character.realm_slug, Character.member_id))
        ).all()
    }
    person_of_account = {a.discord_id: a.person for a in guild.accounts}
    member_people: dict[int, set[int]] = {}
    for discord_id, member_id in (
        await session.execute(
            select(DiscordMember.discord_id, DiscordMember.member_id).where(
                DiscordMember.member_id.is_not(None)
            )
        )
    ).all():
        person = person_of_account.get(discord_id)
        if person is not None:
            member_people.setdefault(member_id, set()).add(person)
    members = [character_member[(c.name.lower(), c.realm_slug)] for c in guild.characters]
    linked = correct = discovered = 0
    for character, member_id in zip(guild.characters, members, strict=True):
        if member_id is None:
            continue
        linked += 1
        if character.person in member_people.get(member_id, set()):
            correct += 1
            if character.discoverable:
                discovered += 1
    alts = guild.alts()
    grouped = sum(
        1 for alt, main in alts if members[alt] is not None and members[alt] == members[main]
    )
    return Quality(
        linked=linked,
        correct=correct,
        discoverable=sum(1 for c in guild.characters if c.discoverable),
        discovered=discovered,
        alts=len(alts),
        alts_grouped=grouped,
    )
