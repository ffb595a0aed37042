"""patt.accounts."""
