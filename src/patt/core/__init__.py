"""patt.core."""
