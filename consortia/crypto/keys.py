"""Ed25519 keys and signatures (libsodium through PyNaCl) and key files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nacl.bindings
import nacl.exceptions
import nacl.signing

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
KEY_FILE_MODE = 0o600


class KeyFileError(ValueError):
    """A key file is missing, unreadable, or too open."""


class SigningKey:
    """An Ed25519 private key. Never printed: ``repr`` shows only the public key."""

    __slots__ = ("_key", "public_key", "public_key_hex")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self._key = nacl.signing.SigningKey(seed)
        self.public_key: bytes = bytes(self._key.verify_key)
        self.public_key_hex: str = self.public_key.hex()

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh key from the operating system's random source."""
        return cls(os.urandom(32))

    def sign(self, message: bytes) -> bytes:
        """The 64-byte detached signature of ``message``."""
        return bytes(self._key.sign(message).signature)

    def seed(self) -> bytes:
        """The 32-byte secret seed; callers must keep it out of logs."""
        return bytes(self._key)

    def __repr__(self) -> str:
        return f"SigningKey(public_key={self.public_key_hex})"

    def save(self, path: Path) -> None:
        """Write the key to a new file readable by its owner only (mode 0600)."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        body = json.dumps({"public_key": self.public_key_hex, "seed": self.seed().hex()})
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
        with os.fdopen(fd, "w") as f:
            f.write(body + "\n")

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        """Read a key file written by :meth:`save`; refuse one that others can read."""
        try:
            mode = path.stat().st_mode & 0o777
            body = json.loads(path.read_text())
            key = cls(bytes.fromhex(body["seed"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KeyFileError(f"cannot read key file {path}: {exc.__class__.__name__}") from None
        if mode & 0o077:
            raise KeyFileError(f"key file {path} has mode {mode:o}; it must be 600")
        if key.public_key_hex != body.get("public_key"):
            raise KeyFileError(f"key file {path}: public key does not match the seed")
        return key

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        """Load the key at ``path``, creating it on first use."""
        if not path.exists():
            cls.generate().save(path)
        return cls.load(path)


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message`` by ``public_key``.

    Runs in libsodium with the GIL released, so a thread pool verifies on every core.
    """
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


def parse_public_key(text: str) -> bytes:
    """A public key from its lower-case hex form; ValueError with a clear message otherwise."""
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ValueError("public key is not hex") from None
    if len(key) != PUBLIC_KEY_BYTES or text != text.lower():
        raise ValueError("public key must be 32 bytes as lower-case hex")
    return key
