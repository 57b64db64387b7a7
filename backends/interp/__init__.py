"""The reference interpreter: runs lowered IR itself, the semantics other backends are tested against."""

from .module import InterpModule, build

__all__ = ["InterpModule", "build"]
