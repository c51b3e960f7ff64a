"""``consortia cfp`` against a real node holding a certificate issued by real signed txs."""

from __future__ import annotations

import json

from tests.api.certification.support import Registry
from tests.api.support import free_url
from tests.cli.support import assert_fails_with_one_line, consortia_all


def test_cfp_commands(registry: Registry) -> None:
    url, number = registry.url, registry.number
    done = consortia_all({
        "types": ("cfp", "types", "--url", url),
        "search": ("cfp", "search", "--vendor", "acme", "--type", "POS", "--status", "valid",
                   "--url", url),
        "show": ("cfp", "show", number, "--url", url),
        "valid": ("cfp", "valid-at", number, str(registry.issued_ms), "--url", url),
        "before": ("cfp", "valid-at", number, str(registry.issued_ms - 1), "--url", url),
        "never": ("cfp", "valid-at", number, "0", "--url", url),
        "unknown": ("cfp", "show", "CFP-1999-000001", "--url", url),
        "unknown_at": ("cfp", "valid-at", "CFP-1999-000001", "1", "--url", url),
        "bad_time": ("cfp", "valid-at", number, "soon", "--url", url),
        "bad_status": ("cfp", "search", "--status", "shiny", "--url", url),
        "down": ("cfp", "valid-at", number, "1", "--url", free_url()),
    })
    assert done["types"].returncode == 0 and "POS" in done["types"].stdout
    assert done["search"].returncode == 0 and number in done["search"].stdout

    assert done["show"].returncode == 0, done["show"].stderr
    shown = json.loads(done["show"].stdout)
    assert shown["number"] == number and shown["status"] == "valid"
    assert [h["action"] for h in shown["history"]][-1] == "decide"

    valid = done["valid"]
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.startswith(f"valid: {number}") and "receipt verified" in valid.stdout
    for name in ("before", "never"):
        assert done[name].returncode == 1, (name, done[name].stderr)
        assert done[name].stdout.startswith(f"not valid: {number}") and not done[name].stderr
    assert "onsite_passed" in done["before"].stdout

    assert_fails_with_one_line(done["unknown"], "unknown_certificate")
    assert_fails_with_one_line(done["unknown_at"], "unknown_certificate")
    assert_fails_with_one_line(done["bad_time"], "bad_time")
    assert_fails_with_one_line(done["bad_status"], "bad_status")
    assert_fails_with_one_line(done["down"], "cannot reach")
