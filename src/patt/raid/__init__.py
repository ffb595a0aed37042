"""The raid planner: planning rules, the raid admin API and page, Raid-Helper."""
