"""Voting campaigns: lifecycle, ballots, counting, results, the status checker, API and pages."""
