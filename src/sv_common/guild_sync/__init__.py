"""Guild sync: Discord member sync, reporter, sync log, locks (70, 80, 85)."""
