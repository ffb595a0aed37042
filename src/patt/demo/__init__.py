"""The demo guild loaded by `patt demo` and `patt serve --demo`."""
