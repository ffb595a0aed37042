"""Operating an installation: the `patt doctor` checks."""
