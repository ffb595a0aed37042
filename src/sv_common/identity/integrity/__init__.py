"""The integrity checker: finds identity problems (orphans, rank mismatches, stale characters),
keeps one open audit issue per problem and resolves issues whose problem went away.

`rules` evaluates (pure), `issues` stores and resolves, `checker` runs one check.
"""
