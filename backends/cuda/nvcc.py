"""Compiling CUDA C with nvcc, in a temporary directory: to a cubin (what the runtime loads), PTX,
or an object file (what the tests check on machines without a GPU)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile

from tensorir.errors import BackendUnavailable, CodegenError

_OUTPUTS = {"cubin": ("-cubin", "kernel.cubin"), "ptx": ("-ptx", "kernel.ptx"), "obj": ("-c", "kernel.o")}


def find_nvcc() -> str | None:
    """The path of nvcc: on PATH, else under $CUDA_HOME, $CUDA_PATH or /usr/local/cuda; or None."""
    found = shutil.which("nvcc")
    if found:
        return found
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if root and os.access(os.path.join(root, "bin", "nvcc"), os.X_OK):
            return os.path.join(root, "bin", "nvcc")
    return None


@functools.lru_cache(maxsize=64)
def compile_cuda(source: str, arch: str = "sm_90", output: str = "cubin",
                 options: tuple[str, ...] = ("-O3",)) -> bytes:
    """Compile ``source`` with ``nvcc -arch=<arch>``; the bytes of the output file.

    Parameters
    ----------
    source
        CUDA C source text.
    arch
        The GPU architecture, e.g. ``"sm_90"``.
    output
        ``"cubin"``, ``"ptx"`` or ``"obj"`` (``nvcc -c``).
    options
        Further nvcc options.

    Raises
    ------
    BackendUnavailable
        Where nvcc is not installed.
    CodegenError
        Where nvcc rejects the source; the message holds nvcc's diagnostics.
    """
    if output not in _OUTPUTS:
        raise ValueError(f"compile_cuda: output must be one of {sorted(_OUTPUTS)}, got {output!r}")
    nvcc = find_nvcc()
    if nvcc is None:
        raise BackendUnavailable("nvcc (the CUDA compiler) was not found on PATH, in $CUDA_HOME/bin "
                                 "or in /usr/local/cuda/bin; install the CUDA toolkit")
    flag, name = _OUTPUTS[output]
    with tempfile.TemporaryDirectory(prefix="nestor_cuda_") as folder:
        path = os.path.join(folder, "kernel.cu")
        with open(path, "w") as handle:
            handle.write(source)
        command = [nvcc, f"-arch={arch}", flag, *options, "-o", os.path.join(folder, name), path]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise CodegenError(f"nvcc -arch={arch} {flag} failed (exit {done.returncode}):\n"
                               f"{done.stderr.strip() or done.stdout.strip()}")
        with open(os.path.join(folder, name), "rb") as handle:
            return handle.read()
