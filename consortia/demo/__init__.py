"""The embedded demo consortium (fictional institutions) started by ``consortia up``."""
