"""Guild sync in the app: the scheduler and its leader, the pipeline, sync jobs, the guild-sync API."""
