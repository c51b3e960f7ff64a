"""Python SDK: build, sign, submit, wait for a receipt and verify it."""

from consortia.sdk.client import Client, ConsortiaError, build_tx

__all__ = ["Client", "ConsortiaError", "build_tx"]
