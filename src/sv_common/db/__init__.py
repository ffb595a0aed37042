"""Database layer: models, async engine and sessions, embedded PostgreSQL, migrations, seeding."""
