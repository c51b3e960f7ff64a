"""Consortia: a certified digital-payment network on a consortium ledger."""

__version__ = "0.1.0"
