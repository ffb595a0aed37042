"""patt.campaigns."""
