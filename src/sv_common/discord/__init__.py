"""Discord integration: interface, bot, fakes, role sync and DM texts (70)."""
