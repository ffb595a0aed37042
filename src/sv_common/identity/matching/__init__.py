"""The identity matching engine: links Discord accounts and in-guild characters to members.

`names` and `note_hints` read names and notes, `similarity` scores near misses, `planner`
decides (pure), `engine` reads the database and writes what the planner decided.
"""

from sv_common.identity.matching.engine import run_matching
from sv_common.identity.matching.planner import MatchingStats

__all__ = ["MatchingStats", "run_matching"]
