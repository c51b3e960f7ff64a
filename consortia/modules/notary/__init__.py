"""Electronic evidence: document digests attested on the ledger, provable by receipt."""
