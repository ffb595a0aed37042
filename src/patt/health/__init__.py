"""patt.health."""
