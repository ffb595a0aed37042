"""Server-rendered pages (Jinja2): public, auth, setup, vote, admin, guild tools."""
