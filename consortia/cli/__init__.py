"""The ``consortia`` command line (typer + rich)."""
