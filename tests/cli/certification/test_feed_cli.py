"""``consortia cfp feed`` and ``cfp verify-feed`` against a real node."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from consortia.crypto.keys import SigningKey
from tests.api.certification.support import Registry
from tests.api.support import free_url
from tests.cli.support import assert_fails_with_one_line, consortia, consortia_all


def test_cfp_feed_commands(registry: Registry, http: httpx.Client, tmp_path: Path) -> None:
    url = registry.url
    key = http.get("/v1/chain").json()["node_key"]
    other = SigningKey.generate().public_key_hex
    saved = tmp_path / "feed.json"
    fetched = consortia("cfp", "feed", "--url", url, "--out", saved)
    assert fetched.returncode == 0, fetched.stderr
    assert "verified" in fetched.stdout and "/v1/chain" in fetched.stdout
    body = json.loads(saved.read_text())
    assert f"serial {body['feed']['serial']}" in fetched.stdout
    assert f"entries {len(body['feed']['entries'])}" in fetched.stdout

    tampered = tmp_path / "tampered.json"
    body["feed"]["serial"] += 1
    tampered.write_text(json.dumps(body))
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json")
    done = consortia_all({
        "given": ("cfp", "feed", "--url", url, "--node-key", key),
        "wrong_key": ("cfp", "feed", "--url", url, "--node-key", other),
        "bad_key": ("cfp", "feed", "--url", url, "--node-key", "xyz"),
        "down": ("cfp", "feed", "--url", free_url()),
        "offline": ("cfp", "verify-feed", saved, "--node-key", key),
        "offline_other": ("cfp", "verify-feed", saved, "--node-key", other),
        "offline_tampered": ("cfp", "verify-feed", tampered, "--node-key", key),
        "offline_garbage": ("cfp", "verify-feed", garbage, "--node-key", key),
        "offline_missing": ("cfp", "verify-feed", tmp_path / "none.json", "--node-key", key),
    })
    assert done["given"].returncode == 0, done["given"].stderr
    assert "verified" in done["given"].stdout and "--node-key" in done["given"].stdout
    assert done["offline"].returncode == 0, done["offline"].stderr
    assert "verified" in done["offline"].stdout
    assert_fails_with_one_line(done["wrong_key"], "feed does not verify", "another node key")
    assert_fails_with_one_line(done["bad_key"], "bad_node_key")
    assert_fails_with_one_line(done["down"], "cannot reach")
    assert_fails_with_one_line(done["offline_other"], "another node key")
    assert_fails_with_one_line(done["offline_tampered"], "signature is invalid")
    assert_fails_with_one_line(done["offline_garbage"], "cannot read feed")
    assert_fails_with_one_line(done["offline_missing"], "cannot read feed")
