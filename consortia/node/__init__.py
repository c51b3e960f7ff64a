"""A ledger node: mempool, orderer, executor loop, events."""
