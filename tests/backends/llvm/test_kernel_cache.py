"""The compiled-kernel cache: in memory, on disk across processes, and robust to bad entries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = textwrap.dedent("""
    import json, numpy as np, nestor as ns
    A = ns.placeholder((33, 17), name="A")
    B = ns.compute((33, 17), lambda i, j: ns.exp(A[i, j]) * 3.0, name="B")
    s = ns.create_schedule(B)
    o, i = s[B].split(B.op.axis[1], factor=8)
    s[B].vectorize(i)
    module = ns.build(s, [A, B], target="llvm", name="cached_kernel")
    again = ns.build(s, [A, B], target="llvm", name="cached_kernel")
    a = np.linspace(-1, 1, 33 * 17, dtype=np.float32).reshape(33, 17)
    b = np.zeros_like(a)
    module(a, b)
    ok = bool(np.allclose(b, np.exp(a) * 3.0, rtol=1e-5))
    print(json.dumps({"first": module.cache_hit, "second": again.cache_hit, "ok": ok}))
""")


def _run(cache: Path) -> dict:
    env = dict(os.environ, NESTOR_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
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
