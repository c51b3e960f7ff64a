"""Users' Ed25519 keys sealed with libsodium's secretbox under the custody master key.

The master key is 32 random bytes in ``<data_dir>/custody.key`` (mode 0600, refused if others
can read it). Each sealed key names its user inside the box, so a ciphertext copied onto
another user's row does not open as theirs.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import nacl.exceptions
import nacl.secret
import nacl.utils

from consortia.crypto.keys import KEY_FILE_MODE, KeyFileError, SigningKey

MASTER_KEY_BYTES = nacl.secret.SecretBox.KEY_SIZE
_SEALED_VERSION = 1


class _Sealed(msgspec.Struct, frozen=True, array_like=True):
    version: int
    username: str
    seed: bytes


class VaultError(Exception):
    """A sealed key that does not open (wrong master key, tampered, or another user's)."""


def load_or_create_master_key(path: Path) -> bytes:
    """The master key at ``path``, created (mode 0600) on first use."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
        except FileExistsError:
            pass  # another process made it first: read theirs
        else:
            with os.fdopen(fd, "w") as f:
                f.write(nacl.utils.random(MASTER_KEY_BYTES).hex() + "\n")
    try:
        mode = path.stat().st_mode & 0o777
        key = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"cannot read {path}: {exc.__class__.__name__}") from None
    if mode & 0o077:
        raise KeyFileError(f"{path} has mode {mode:o}; it must be 600")
    if len(key) != MASTER_KEY_BYTES:
        raise KeyFileError(f"{path} does not hold a {MASTER_KEY_BYTES}-byte key")
    return key


class Vault:
    def __init__(self, master_key: bytes) -> None:
        self._box = nacl.secret.SecretBox(master_key)

    def __repr__(self) -> str:
        return "Vault()"

    def seal(self, username: str, key: SigningKey) -> bytes:
        """nonce ‖ ciphertext of the key's seed, bound to ``username``."""
        plain = msgspec.msgpack.encode(_Sealed(_SEALED_VERSION, username, key.seed()))
        return bytes(self._box.encrypt(plain))

    def open(self, username: str, sealed: bytes) -> SigningKey:
        try:
            plain = self._box.decrypt(sealed)
            inner = msgspec.msgpack.decode(plain, type=_Sealed)
        except (nacl.exceptions.CryptoError, msgspec.DecodeError, ValueError):
            raise VaultError(f"the sealed key of {username!r} does not open") from None
        if inner.version != _SEALED_VERSION or inner.username != username:
            raise VaultError(f"the sealed key on {username!r}'s row is not theirs")
        return SigningKey(inner.seed)
