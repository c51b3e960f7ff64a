"""Governance: members and roles, node admission, proposals and ballots, parameters."""
