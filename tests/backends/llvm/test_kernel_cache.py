"""The compiled-kernel cache: in memory, on disk across processes, and robust to bad entries."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

KERNEL = textwrap.dedent("""
    import json, numpy as np, nestor as ns
    A = ns.placeholder((33, 17), name="A")
    B = ns.compute((33, 17), lambda i, j: ns.exp(A[i, j]) * 3.0, name="B")
    s = ns.create_schedule(B)
    o, i = s[B].split(B.op.axis[1], factor=8)
    s[B].vectorize(i)
""")
SCRIPT = KERNEL + textwrap.dedent("""
    module = ns.build(s, [A, B], target="llvm", name="cached_kernel")
    again = ns.build(s, [A, B], target="llvm", name="cached_kernel")
    a = np.linspace(-1, 1, 33 * 17, dtype=np.float32).reshape(33, 17)
    b = np.zeros_like(a)
    module(a, b)
    ok = bool(np.allclose(b, np.exp(a) * 3.0, rtol=1e-5))
    print(json.dumps({"first": module.cache_hit, "second": again.cache_hit, "ok": ok}))
""")


def _run(cache: Path, stderr: list | None = None) -> dict:
    env = dict(os.environ, NESTOR_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True,
                         timeout=120)  # a FIFO or /dev/zero entry must not hang or exhaust the build
    if stderr is not None:
        stderr.append(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_loads_from_disk(tmp_path):
    first = _run(tmp_path)
    assert first == {"first": None, "second": "memory", "ok": True}
    assert len(list(tmp_path.glob("*.o"))) == 1
    assert _run(tmp_path) == {"first": "disk", "second": "memory", "ok": True}


@pytest.mark.parametrize("damage", ["truncate", "flip", "foreign"])
def test_bad_entries_are_rebuilt(tmp_path, damage):
    _run(tmp_path)
    (entry,) = tmp_path.glob("*.o")
    data = bytearray(entry.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[-10] ^= 0xFF
    else:
        data[8:40] = bytes(32)  # an entry written for another key
    entry.write_bytes(bytes(data))
    result = _run(tmp_path)
    assert result["first"] is None and result["ok"]
    assert _run(tmp_path)["first"] == "disk"


def _scaled(names: tuple[str, str, str], factor: float):
    import nestor as ns

    A = ns.placeholder((6, 5), name=names[0])
    B = ns.compute((6, 5), lambda i, j: A[i, j] * factor, name=names[1])
    s = ns.create_schedule(B)
    return ns.lower(s, [A, B], name=names[2])


def test_cache_key_is_structural_not_textual():
    from backends.llvm.module import _cache_key

    base = _cache_key(_scaled(("A", "B", "k"), 2.0))
    assert _cache_key(_scaled(("X", "Y", "k"), 2.0)) == base  # names of buffers and loops aside
    assert _cache_key(_scaled(("A", "B", "k"), 2.5)) != base  # a changed constant
    assert _cache_key(_scaled(("A", "B", "other"), 2.0)) != base  # another symbol


def _old_entry(key: bytes, body: bytes) -> bytes:
    import hashlib

    return b"NESTORK1" + key + hashlib.sha256(body).digest() + body


@pytest.mark.parametrize("plant", ["fifo", "symlink_to_dev_zero", "old_format_junk", "checksummed_junk",
                                   "oversized", "directory"])
def test_hostile_entries_are_ignored_and_rebuilt(tmp_path, monkeypatch, plant):
    """Entries that once hung, exhausted memory or crashed ``ns.build``: each is skipped (in a
    child with a timeout), the kernel is rebuilt correctly and the entry replaced by a good one."""
    import hashlib

    from backends.llvm import cache
    from backends.llvm.module import _cache_key

    scope: dict = {}
    exec(KERNEL, scope)
    key = _cache_key(scope["ns"].lower(scope["s"], [scope["A"], scope["B"]], name="cached_kernel"))
    entry = tmp_path / f"{key.hex()}.o"
    junk = b"\xde\xad\xbe\xef" * 64  # a valid checksum over bytes that would crash if run
    match plant:
        case "fifo":
            os.mkfifo(entry)
        case "symlink_to_dev_zero":
            entry.symlink_to("/dev/zero")
        case "old_format_junk":
            entry.write_bytes(_old_entry(key, junk))
        case "checksummed_junk":
            entry.write_bytes(cache.MAGIC + key + hashlib.sha256(junk).digest() + junk)
        case "oversized":
            with open(entry, "wb") as handle:
                handle.truncate(65 << 20)  # sparse: costs no disk
        case "directory":
            entry.mkdir()
    assert _run(tmp_path) == {"first": None, "second": "memory", "ok": True}
    if plant != "directory":  # a directory cannot be replaced by a file; it is simply never loaded
        monkeypatch.setenv("NESTOR_CACHE_DIR", str(tmp_path))
        assert entry.is_file() and not entry.is_symlink() and cache.load(key) is not None


def test_forged_entry_is_not_run(tmp_path, monkeypatch):
    """Someone who can write into the cache but does not know its key turns x*2 into x*3: with a
    plain checksum, with a MAC under another key, or in the old format. None is loaded."""
    import hashlib
    import hmac

    import numpy as np

    import nestor as ns
    from backends.llvm import cache, module
    from backends.llvm.module import _cache_key, _compile_object, _symbol

    monkeypatch.setenv("NESTOR_CACHE_DIR", str(tmp_path))
    double, triple = _scaled(("A", "B", "k"), 2.0), _scaled(("A", "B", "k"), 3.0)
    key, evil = _cache_key(double), _compile_object(triple, _symbol("k"))
    forgeries = [cache.MAGIC + key + hashlib.sha256(evil).digest() + evil,
                 cache.MAGIC + key + hmac.new(b"guessed" * 4, cache.MAGIC + key + evil, "sha256").digest() + evil,
                 _old_entry(key, evil)]
    a = np.arange(30, dtype=np.float32).reshape(6, 5)
    for forged in forgeries:
        (tmp_path / f"{key.hex()}.o").write_bytes(forged)
        monkeypatch.setattr(module, "_compiled", {})
        kernel = ns.build(double, target="llvm")
        b = np.zeros_like(a)
        kernel(a, b)
        assert kernel.cache_hit is None
        np.testing.assert_array_equal(b, a * 2.0)


def test_cache_directory_and_key_are_private(tmp_path, monkeypatch):
    from backends.llvm import cache

    root = tmp_path / "made" / "by" / "nestor"
    monkeypatch.setenv("NESTOR_CACHE_DIR", str(root))
    cache.store(b"k" * 32, b"object code")
    assert cache.load(b"k" * 32) == b"object code"
    for folder in (root, root.parent, root.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert stat.S_IMODE((root / cache.SECRET_NAME).stat().st_mode) == 0o600
    assert stat.S_IMODE((root / f"{(b'k' * 32).hex()}.o").stat().st_mode) == 0o600
    shutil.rmtree(root)  # removed while the process runs: made again, private, with a new key
    cache.store(b"k" * 32, b"object code")
    cache.store(b"k" * 32, b"object code")
    assert cache.load(b"k" * 32) == b"object code" and stat.S_IMODE(root.stat().st_mode) == 0o700


def _untrusted(tmp_path: Path, monkeypatch, problem: str) -> tuple[Path, str]:
    root = tmp_path / "kernels"
    root.mkdir(mode=0o700)
    match problem:
        case "group_writable":
            root.chmod(0o770)
            return root, r"has mode 0o770, writable by group or others"
        case "world_writable":
            root.chmod(0o1777)
            return root, r"has mode 0o1777, writable by group or others"
        case "foreign_owner":
            real = os.geteuid()
            monkeypatch.setattr(os, "geteuid", lambda: real + 1)
            return root, rf"is owned by uid {real}, not by this user \(uid {real + 1}\)"
        case "not_a_directory":
            root.rmdir()
            root.write_bytes(b"")
            return root, "is not a directory"
        case "open_key":
            (root / "key").write_bytes(bytes(32))
            (root / "key").chmod(0o644)
            return root, r"its key file key has mode 0o644, open to group or others \(`chmod 600 key` it\)"
        case "short_key":
            (root / "key").write_bytes(b"0")
            (root / "key").chmod(0o600)
            return root, "its key file key is not a 32-byte file; delete it"
        case "symlinked_key":
            (root / "key").symlink_to("/dev/zero")
            return root, "its key file key cannot be opened"
    raise AssertionError(problem)


@pytest.mark.parametrize("problem", ["group_writable", "world_writable", "foreign_owner", "not_a_directory",
                                     "open_key", "short_key", "symlinked_key"])
def test_untrusted_cache_is_refused_once_and_turned_off(tmp_path, monkeypatch, problem):
    import warnings

    from backends.llvm import cache

    root, reason = _untrusted(tmp_path, monkeypatch, problem)
    monkeypatch.setenv("NESTOR_CACHE_DIR", str(root))
    message = rf"kernel cache {re.escape(str(root))}: {reason}.*NESTOR_CACHE_DIR"
    with pytest.warns(cache.UntrustedCacheWarning, match=message):
        assert cache.load(b"k" * 32) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning per process, then the cache is simply off
        cache.store(b"k" * 32, b"object code")
        assert cache.load(b"k" * 32) is None
    assert not list(tmp_path.rglob("*.o"))


def test_build_works_uncached_in_a_refused_directory(tmp_path):
    root = tmp_path / "shared"
    root.mkdir()
    root.chmod(0o777)
    stderr: list[str] = []
    assert _run(root, stderr) == {"first": None, "second": "memory", "ok": True}
    assert stderr[0].count("UntrustedCacheWarning") == 1 and "writable by group or others" in stderr[0]
    assert not list(root.iterdir())


KEY_RACE = "from backends.llvm import cache; print(cache._open_cache()[1].hex())"


def test_processes_sharing_a_new_directory_agree_on_its_key(tmp_path):
    """The tuner's builders and runner share one fresh directory (NESTOR_CACHE_DIR): whichever
    creates the key first, all read the same complete key."""
    env = dict(os.environ, NESTOR_CACHE_DIR=str(tmp_path / "run"), PYTHONPATH=str(ROOT))
    children = [subprocess.Popen([sys.executable, "-c", KEY_RACE], env=env, stdout=subprocess.PIPE, text=True)
                for _ in range(4)]
    keys = {child.communicate(timeout=120)[0].strip() for child in children}
    assert len(keys) == 1 and len(keys.pop()) == 64
