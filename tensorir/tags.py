"""Labels of compute operations: TVM's ``compute(..., tag=, attrs=)`` and ``tag_scope``, whose
computes (defined inside it, or inside a function it decorates) take its tag, as a template
marks the operations it builds (``@tag_scope(tag="conv2d_nchw")``)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from contextvars import ContextVar
from types import MappingProxyType

from .errors import DefinitionError, TagScopeError

_CURRENT: ContextVar[str | None] = ContextVar("nestor_tag_scope", default=None)


class tag_scope:  # noqa: N801 - TVM's name, used as a function and a decorator
    """Give every compute defined inside this block (or the decorated function) ``tag``.

    Parameters
    ----------
    tag
        The tag, a string; a compute inside may not name a tag of its own, and scopes do not nest
        (as in TVM).
    """

    def __init__(self, tag: str):
        if not isinstance(tag, str):
            raise DefinitionError(f"tag_scope(tag={tag!r}): the tag must be a string, e.g. tag='elemwise'")
        self.tag = tag
        self._token = None

    def __enter__(self) -> tag_scope:
        if _CURRENT.get() is not None:
            raise TagScopeError(f"tag_scope({self.tag!r}): already inside tag_scope({_CURRENT.get()!r}); "
                                "tag scopes do not nest, close the outer one first")
        self._token = _CURRENT.set(self.tag)
        return self

    def __exit__(self, *_) -> None:
        _CURRENT.reset(self._token)
        self._token = None

    def __call__(self, function):
        @functools.wraps(function)
        def tagged(*args, **kwargs):
            with tag_scope(self.tag):
                return function(*args, **kwargs)
        return tagged


def scoped_tag(tag: str, who: str) -> str:
    """``tag`` as a compute inside the current scope takes it: the scope's, where one is open."""
    current = _CURRENT.get()
    if current is None:
        return tag
    if tag:
        raise DefinitionError(f"{who}: tag={tag!r} inside tag_scope({current!r}); a compute inside a tag "
                              "scope takes the scope's tag, drop one of them")
    return current


def labels(tag: object, attrs: object, name: object) -> tuple[str, Mapping[str, object]]:
    """The checked ``tag=`` and ``attrs=`` of ``compute`` (the scope's tag inside a tag scope)."""
    who = f"compute {name}" if name else "compute"
    if not isinstance(tag, str):
        raise DefinitionError(f"{who}: tag={tag!r} must be a string, e.g. tag='elemwise'")
    tag = scoped_tag(tag, who)
    if attrs is None:
        attrs = {}
    if not isinstance(attrs, Mapping) or not all(isinstance(key, str) for key in attrs):
        raise DefinitionError(f"{who}: attrs={attrs!r} must be a dict with string keys, "
                              "e.g. attrs={'layout': 'NCHW'}")
    return tag, MappingProxyType(dict(attrs))


def labelled(tensor, given: tuple[str, Mapping[str, object]]):
    """``tensor`` with its operation labelled ``given`` (tag, attrs)."""
    if given[0] or given[1]:
        tensor.op.tag, tensor.op.attrs = given
    return tensor


__all__ = ["labelled", "labels", "scoped_tag", "tag_scope"]
