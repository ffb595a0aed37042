"""patt.raid."""
