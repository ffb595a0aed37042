"""The identity matching engine: links Discord accounts and in-guild characters to members.

`note_hints` reads notes, `similarity` scores near misses, `model` holds the snapshot and plan
types, `planner` decides (pure), `engine` reads the database and writes what was decided.
"""

from sv_common.identity.matching.engine import run_matching
from sv_common.identity.matching.model import MatchingStats

__all__ = ["MatchingStats", "run_matching"]
