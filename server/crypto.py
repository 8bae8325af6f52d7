"""Secrets at rest (receivers' Apprise URLs, users' contact channels), encrypted with a key from the
environment: `TAISHAN_ENCRYPTION_KEY`. Without it (a developer's machine, the demo), a key is made once in
`var/encryption.key`; production sets the variable, so a copy of the database alone reveals nothing."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from functools import cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

log = logging.getLogger("taishan")
DEV_KEY_FILE = Path("var/encryption.key")


@cache
def _fernet() -> Fernet:
    configured = os.environ.get("TAISHAN_ENCRYPTION_KEY", "")
    if not configured:
        if not DEV_KEY_FILE.exists():
            DEV_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
            DEV_KEY_FILE.write_text(Fernet.generate_key().decode())
            DEV_KEY_FILE.chmod(0o600)
            log.warning("TAISHAN_ENCRYPTION_KEY is not set: using %s (not for production)", DEV_KEY_FILE)
        configured = DEV_KEY_FILE.read_text().strip()
    # Any passphrase works: it is stretched to the 32 bytes Fernet wants.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(configured.encode()).digest()))


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode() if plain else ""


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("无法解密：加密密钥已更换或数据已损坏") from None


def mask(url: str) -> str:
    """What non-administrators may see of a secret URL: its scheme only."""
    scheme, _, _ = url.partition("://")
    return f"{scheme}://***" if url else ""
