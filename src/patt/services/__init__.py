"""PATT application services (campaigns, votes, startup)."""
