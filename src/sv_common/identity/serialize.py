"""The API's shared object shapes (30 §1.1): Rank, Member, Character."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sv_common.db.models import Character, GuildMember, GuildRank


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with offset, or None."""
    return value.isoformat() if value is not None else None


def rank_dict(rank: GuildRank) -> dict[str, Any]:
    """Rank shape."""
    return {
        "id": rank.id,
        "name": rank.name,
        "level": rank.level,
        "description": rank.description,
        "discord_role_id": rank.discord_role_id,
    }


def rank_brief(rank: GuildRank) -> dict[str, Any]:
    """{id, name, level} as nested in Member."""
    return {"id": rank.id, "name": rank.name, "level": rank.level}


def member_dict(member: GuildMember, *, officer: bool = True) -> dict[str, Any]:
    """Member (admin) shape; `notes` only for officers (decision 13)."""
    data: dict[str, Any] = {
        "id": member.id,
        "discord_username": member.discord_username,
        "display_name": member.display_name,
        "discord_id": member.discord_id,
        "rank_id": member.rank_id,
        "rank": rank_brief(member.rank),
        "rank_source": member.rank_source,
        "registered": member.user_id is not None,
        "registered_at": iso(member.registered_at),
        "on_raid_roster": member.on_raid_roster,
    }
    if officer:
        data["notes"] = member.notes
    return data


def character_dict(character: Character, *, officer: bool = False) -> dict[str, Any]:
    """Character shape; officer responses add the sync fields and `officer_note`."""
    data: dict[str, Any] = {
        "id": character.id,
        "name": character.name,
        "realm": character.realm_name or character.realm_slug,
        "realm_slug": character.realm_slug,
        "class": character.character_class,
        "spec": character.spec,
        "role": character.role,
        "main_alt": character.main_alt,
        "armory_url": character.armory_url,
    }
    if officer:
        data.update(
            {
                "level": character.level,
                "item_level": character.item_level,
                "active_spec": character.active_spec,
                "game_rank_name": character.game_rank_name,
                "guild_note": character.guild_note,
                "officer_note": character.officer_note,
                "removed_at": iso(character.removed_at),
                "member_id": character.member_id,
                "origin": character.origin,
            }
        )
    return data
