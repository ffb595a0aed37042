"""Authentication building blocks: passwords, JWT, invite codes, throttling, CSRF."""
