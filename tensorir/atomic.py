"""Atomic file writes: a reader sees the old file or the complete new one, never a torn one.

Every file Nestor writes (checkpoints, kernel cache entries, tuning plots) goes through
:func:`atomic_write`: the data goes to a temporary file in the destination's folder, is flushed
and fsync'ed, and only then renamed over the destination with ``os.replace`` (atomic on POSIX
within one file system). A writer that raises or is killed midway leaves the previous file as
it was, plus at most a stray ``.<name>.*.tmp`` file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: int | None = None, durable: bool = True) -> Iterator[BinaryIO]:
    """A binary file handle whose contents replace ``path`` when the ``with`` block ends.

    If the block raises, ``path`` is untouched and the temporary file is removed. ``mode``: the
    new file's permission bits, exactly; by default those of the file it replaces, else those
    ``open`` would give (0o666 less the umask). ``durable=False`` skips the fsyncs, for files
    whose readers detect a torn write themselves (the kernel cache authenticates every entry).

    >>> with atomic_write("model.npz") as handle:  # doctest: +SKIP
    ...     np.savez(handle, weights=w)
    """
    path = Path(path)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), _mode_for(path) if mode is None else mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    if durable:
        _sync_folder(path.parent)


def write_bytes(path: str | os.PathLike, data: bytes, mode: int | None = None, durable: bool = True) -> None:
    """Replace ``path`` atomically with ``data``."""
    with atomic_write(path, mode, durable) as handle:
        handle.write(data)


def _mode_for(path: Path) -> int:
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process umask, read without changing it (``os.umask`` would race with other threads)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable; some file systems cannot fsync a folder, which is harmless."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
