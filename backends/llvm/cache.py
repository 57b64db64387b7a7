"""On-disk cache of compiled kernels: object code keyed by a hash of the lowered IR and target.

An entry is ``MAGIC | key digest | sha256 of the object | object bytes``, written atomically.
An entry whose magic, key or checksum does not match is ignored and rebuilt: nothing is loaded
blindly, and nothing is pickled.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from tensorir import config

MAGIC = b"NESTORK1"


def cache_dir() -> Path | None:
    """``$NESTOR_CACHE_DIR``, else ``$XDG_CACHE_HOME/nestor/kernels`` (``~/.cache``); None if
    ``NESTOR_CACHE_DIR`` is set to ``off``."""
    return config.CACHE_DIR()


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _path(key: bytes) -> Path | None:
    root = cache_dir()
    return None if root is None else root / f"{key.hex()}.o"


def load(key: bytes) -> bytes | None:
    """The cached object code for ``key``, or None when absent or not trustworthy."""
    path = _path(key)
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    header = len(MAGIC) + 64
    if len(data) < header or data[:len(MAGIC)] != MAGIC or data[len(MAGIC):len(MAGIC) + 32] != key:
        return None
    body = data[header:]
    if hashlib.sha256(body).digest() != data[len(MAGIC) + 32:header]:
        return None
    return body


def store(key: bytes, obj: bytes) -> None:
    path = _path(key)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(MAGIC + key + hashlib.sha256(obj).digest() + obj)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only or full cache directory only costs recompilation
