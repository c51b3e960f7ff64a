"""The ledger: transactions, blocks, results, state, the Merkle log and receipts."""
