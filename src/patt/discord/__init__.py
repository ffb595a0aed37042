"""patt.discord."""
