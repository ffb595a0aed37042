"""Mito's Corner: quotes and titles, their API and page."""
