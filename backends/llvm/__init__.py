"""The CPU backend: LLVM IR through llvmlite, JIT-compiled for the host with all its features."""

from .module import LLVMModule, build

__all__ = ["LLVMModule", "build"]
