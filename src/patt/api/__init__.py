"""JSON API routes: health, auth, admin, campaigns, guild tools."""
