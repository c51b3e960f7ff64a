"""The HTTP API (FastAPI): /v1 for programs, pages for people, /metrics and /healthz."""
