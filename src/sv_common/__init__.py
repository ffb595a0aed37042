"""Shared services (auth, db, discord, identity, guild_sync, notify) with no PATT-specific wording."""
