"""Members, ranks and characters: identity services and the shared class/realm helpers."""
