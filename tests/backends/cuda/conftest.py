"""Session fixtures of the CUDA tests: every case built once, its source compiled by one nvcc call
(nvcc takes about two seconds per call, mostly fixed cost) and by one g++ call for the host
emulation."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from backends.cuda.nvcc import find_nvcc
from tests.backends.cuda import host_emulation
from tests.backends.cuda.cases import CASES, build_case


@pytest.fixture(scope="session")
def built_cases() -> dict:
    return {case.name: build_case(case) for case in CASES}


@pytest.fixture(scope="session")
def nvcc_errors(built_cases) -> dict[str, str]:
    """nvcc's diagnostics per case (empty where its source compiled) from one ``nvcc -c`` of all."""
    nvcc = find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc is not installed")
    sources, owners, line = [], [], 1
    for name, built in built_cases.items():
        text = built.module.source + "\n"
        sources.append(text)
        owners.append((line, name))
        line += text.count("\n")
    with tempfile.TemporaryDirectory(prefix="nestor_nvcc_") as folder:
        path = Path(folder) / "all_kernels.cu"
        path.write_text("".join(sources))
        done = subprocess.run([nvcc, "-arch=sm_90", "-c", str(path), "-o", str(Path(folder) / "all.o")],
                              capture_output=True, text=True, check=False)
    errors = {name: "" for name in built_cases}
    for message in done.stderr.splitlines():
        match = re.search(r"all_kernels\.cu\((\d+)\)", message)
        if match:
            where = int(match.group(1))
            owner = [name for start, name in owners if start <= where][-1]
            errors[owner] += message + "\n"
    if done.returncode != 0 and not any(errors.values()):
        pytest.fail(f"nvcc failed without a located error:\n{done.stderr}")
    return errors


@pytest.fixture(scope="session")
def host_modules(built_cases) -> dict:
    """Every case's kernels compiled for the CPU (one g++ call)."""
    if not host_emulation.available():
        pytest.skip("g++ is not installed")
    with tempfile.TemporaryDirectory(prefix="nestor_host_cuda_") as folder:
        modules = host_emulation.compile_host([b.module for b in built_cases.values()], folder)
        yield dict(zip(built_cases, modules))
