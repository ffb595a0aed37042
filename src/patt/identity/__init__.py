"""The officers' identity tools: people, links, orphans, issues (API and pages)."""
