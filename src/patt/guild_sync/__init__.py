"""patt.guild_sync."""
