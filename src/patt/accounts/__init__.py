"""Accounts: invite registration, login and logout, the first Guild Leader, invite DMs."""
