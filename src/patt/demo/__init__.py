"""patt.demo."""
