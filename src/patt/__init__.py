"""The PATT guild platform application (web app, pages, services, CLI)."""

__version__ = "0.1.0"
