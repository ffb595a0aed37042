"""patt.roster."""
