"""patt.mito."""
