"""The roster admin (ranks, members, characters, invites) and the public guild data API."""
