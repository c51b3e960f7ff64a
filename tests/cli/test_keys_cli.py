"""``consortia keys new``: key files readable by their owner only, never overwritten."""

from __future__ import annotations

import re
import stat
from pathlib import Path

from consortia.crypto.keys import SigningKey
from tests.cli.support import assert_fails_with_one_line, consortia, consortia_all


def test_keys_new_creates_an_owner_only_file_and_prints_its_public_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "vendor.key"
    done = consortia("keys", "new", "--out", path)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.strip()
    assert re.fullmatch("[0-9a-f]{64}", printed)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = SigningKey.load(path)
    assert key.public_key_hex == printed
    # The secret never reaches the terminal.
    assert key.seed().hex() not in done.stdout + done.stderr


def test_keys_new_refuses_to_overwrite_an_existing_file(tmp_path: Path) -> None:
    key_file = tmp_path / "member.key"
    SigningKey.generate().save(key_file)
    other_file = tmp_path / "notes.txt"
    other_file.write_text("not a key\n")
    before = {p: p.read_bytes() for p in (key_file, other_file)}
    runs = consortia_all({str(p): ("keys", "new", "--out", p) for p in before})
    for path, content in before.items():
        done = runs[str(path)]
        assert_fails_with_one_line(done, str(path), "refusing to overwrite")
        assert done.stdout == ""
        assert path.read_bytes() == content
