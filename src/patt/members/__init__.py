"""patt.members."""
