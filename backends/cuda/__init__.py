"""The CUDA backend: CUDA C from lowered IR, checked at build time, compiled with nvcc and run
through pycuda (an optional dependency, needed only to run kernels)."""

from .codegen import CudaSource, Launch, generate
from .kernels import Limits
from .module import CudaModule, build
from .runtime import CudaLaunchError, DeviceArray, device_array

__all__ = ["CudaLaunchError", "CudaModule", "CudaSource", "DeviceArray", "Launch", "Limits", "build",
           "device_array", "generate"]
