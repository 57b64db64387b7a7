"""On-disk cache of compiled kernels: object code keyed by a hash of the lowered IR and target.

The cache runs only code this user built. Its directory is created private (0700, and so are
the parents it creates); a directory not owned by the user, or writable by group or others, is
refused with one warning and the cache is off for the process (builds still work, uncached).

An entry is ``MAGIC | key digest | HMAC-SHA256 | object bytes``. The MAC covers the magic, the
key and the object, under a per-user secret in the file ``key`` of the cache directory (32
random bytes, mode 0600, created atomically; its owner and mode are checked on every read), so
an entry written by anyone who does not know the secret is never loaded. Entries are opened
with ``O_NOFOLLOW | O_NONBLOCK`` and read only if they are regular files of the user of at most
``MAX_ENTRY`` bytes. An entry that fails any check is ignored and rebuilt; nothing is pickled.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import tempfile
import threading
import warnings
from pathlib import Path

from tensorir import config
from tensorir.atomic import write_bytes

MAGIC = b"NESTORK2"
#: the largest entry read back (a kernel's object code is kilobytes)
MAX_ENTRY = 64 << 20
SECRET_NAME = "key"
_SECRET_BYTES = 32
_HEADER = len(MAGIC) + 32 + 32


class UntrustedCacheWarning(RuntimeWarning):
    """The kernel cache directory or its key cannot be trusted; the cache is off."""


class _Untrusted(Exception):
    pass


_lock = threading.Lock()
#: per cache directory: its secret, or None once refused (refused once per process)
_secrets: dict[Path, bytes | None] = {}


def cache_dir() -> Path | None:
    """``$NESTOR_CACHE_DIR``, else ``$XDG_CACHE_HOME/nestor/kernels`` (``~/.cache``); None if
    ``NESTOR_CACHE_DIR`` is set to ``off``."""
    return config.CACHE_DIR()


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def load(key: bytes) -> bytes | None:
    """The cached object code for ``key``, or None when absent or not trustworthy."""
    opened = _open_cache()
    if opened is None:
        return None
    root, secret = opened
    data = _read_entry(root / f"{key.hex()}.o")
    if data is None or len(data) < _HEADER or data[:len(MAGIC)] != MAGIC:
        return None
    if data[len(MAGIC):len(MAGIC) + 32] != key:
        return None
    body = data[_HEADER:]
    if not hmac.compare_digest(data[len(MAGIC) + 32:_HEADER], _mac(secret, key, body)):
        return None
    return body


def store(key: bytes, obj: bytes) -> None:
    opened = _open_cache()
    if opened is None or _HEADER + len(obj) > MAX_ENTRY:
        return
    root, secret = opened
    try:
        write_bytes(root / f"{key.hex()}.o", MAGIC + key + _mac(secret, key, obj) + obj, mode=0o600, durable=False)
    except FileNotFoundError:  # the directory was removed: make it (and its key) again next time
        with _lock:
            _secrets.pop(root, None)
    except OSError:
        pass  # a read-only or full cache directory only costs recompilation


def _mac(secret: bytes, key: bytes, obj: bytes) -> bytes:
    return hmac.new(secret, MAGIC + key + obj, hashlib.sha256).digest()


def _open_cache() -> tuple[Path, bytes] | None:
    """The cache directory and its secret, or None when the cache is off or refused."""
    root = cache_dir()
    if root is None:
        return None
    with _lock:
        if root not in _secrets:
            _secrets[root] = _trust(root)
        secret = _secrets[root]
    return None if secret is None else (root, secret)


def _trust(root: Path) -> bytes | None:
    try:
        _make_private(root)
        _check_folder(root)
        return _secret(root)
    except (_Untrusted, OSError) as error:
        reason = str(error) if isinstance(error, _Untrusted) else f"cannot be used ({error.strerror or error})"
        warnings.warn(f"kernel cache {root}: {reason}; kernels are compiled but not cached in this process. "
                      f"Fix it, or set NESTOR_CACHE_DIR to a private directory of your own (or to 'off')",
                      UntrustedCacheWarning, stacklevel=4)
        return None


def _make_private(root: Path) -> None:
    """Create ``root`` and any missing parents with mode 0700 (``mkdir -p`` would use the umask)."""
    missing = []
    folder = root.absolute()
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass  # another process made it; it is checked below like any existing folder


def _check_folder(root: Path) -> None:
    info = os.stat(root)
    if not stat.S_ISDIR(info.st_mode):
        raise _Untrusted("is not a directory")
    _check_owner_and_mode(info, 0o022, "writable by group or others", "chmod go-w")


def _check_owner_and_mode(info: os.stat_result, forbidden: int, what: str, fix: str) -> None:
    user = os.geteuid()
    if info.st_uid != user:
        raise _Untrusted(f"is owned by uid {info.st_uid}, not by this user (uid {user})")
    if info.st_mode & forbidden:
        raise _Untrusted(f"has mode {stat.S_IMODE(info.st_mode):#o}, {what} (`{fix}` it)")


def _secret(root: Path) -> bytes:
    """The directory's MAC key, created on first use."""
    path = root / SECRET_NAME
    if not os.path.lexists(path):
        _create_secret(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise _Untrusted(f"its key file {SECRET_NAME} cannot be opened ({error.strerror}); delete it") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size != _SECRET_BYTES:
            raise _Untrusted(f"its key file {SECRET_NAME} is not a {_SECRET_BYTES}-byte file; delete it")
        try:
            _check_owner_and_mode(info, 0o077, "open to group or others", f"chmod 600 {SECRET_NAME}")
        except _Untrusted as error:
            raise _Untrusted(f"its key file {SECRET_NAME} {error}") from None
        return os.read(fd, _SECRET_BYTES)
    finally:
        os.close(fd)


def _create_secret(path: Path) -> None:
    """Write a fresh key beside ``path`` and link it into place: ``link`` fails if another process
    won the race, and either way every reader sees a complete key."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".key.", suffix=".tmp")  # O_EXCL, 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(os.urandom(_SECRET_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(temporary)


def _read_entry(path: Path) -> bytes | None:
    """The bytes of a regular file of this user's of at most MAX_ENTRY bytes, else None: a FIFO,
    a device, a symlink (to /dev/zero, say) or an oversized file is never read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_size > MAX_ENTRY:
            return None
        chunks, size = [], 0
        while size <= MAX_ENTRY:
            chunk = os.read(fd, min(1 << 20, MAX_ENTRY + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return None if size > MAX_ENTRY else b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)
