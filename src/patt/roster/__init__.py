"""The guild tools' raid roster: sign-up, weekly availability, the roster view and its API."""
