"""patt.landing."""
