"""Running the ``consortia`` command line as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

_SCRIPT = Path(sys.executable).with_name("consortia")
# The installed console script when there is one (it is what users run), else the module.
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "consortia"]


def consortia(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``consortia args…`` and capture its output; never raises on a non-zero exit."""
    return subprocess.run([*COMMAND, *map(str, args)], capture_output=True, text=True,
                          timeout=60, check=False)


def assert_fails_with_one_line(done: subprocess.CompletedProcess[str], *says: str) -> str:
    """Exit status 1 and exactly one line on stderr, which mentions every one of ``says``."""
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    for words in says:
        assert words in line, line
    return line


def consortia_all(jobs: dict[str, tuple[str | Path, ...]],
                  ) -> dict[str, subprocess.CompletedProcess[str]]:
    """Run several independent ``consortia`` invocations at once (one per core): each is a
    separate process, so running them side by side changes nothing but the wall time."""
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        futures = {name: pool.submit(consortia, *args) for name, args in jobs.items()}
        return {name: future.result() for name, future in futures.items()}
