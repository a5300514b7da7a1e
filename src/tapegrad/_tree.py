"""Minimal pytrees: nested tuples, lists and dicts of leaves (arrays, Tensors, numbers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["tree_flatten", "tree_unflatten", "tree_map"]


class TreeDef:
    """The structure of a pytree, without its leaves."""

    __slots__ = ("kind", "meta", "children")

    def __init__(self, kind: str, meta: Any, children: tuple) -> None:
        self.kind = kind  # "leaf", "none", "tuple", "list", "dict"
        self.meta = meta  # dict keys
        self.children = children

    def __repr__(self) -> str:
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        inner = ", ".join(repr(c) for c in self.children)
        if self.kind == "dict":
            inner = ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.meta, self.children))
            return "{" + inner + "}"
        return (
            ("(" if self.kind == "tuple" else "[") + inner + (")" if self.kind == "tuple" else "]")
        )


_LEAF = TreeDef("leaf", None, ())
_NONE = TreeDef("none", None, ())


def tree_flatten(tree: Any) -> tuple[list[Any], TreeDef]:
    """Leaves in order (dicts by insertion order) and the structure."""
    leaves: list[Any] = []
    return leaves, _flatten(tree, leaves)


# Module-level recursion on purpose: a nested recursive closure is a reference cycle that
# would keep the leaves (tensors, and through them whole graphs) alive until the cyclic
# garbage collector runs.
def _flatten(t: Any, leaves: list[Any]) -> TreeDef:
    if t is None:
        return _NONE
    if isinstance(t, (tuple, list)) and not hasattr(t, "_fields"):
        kids = tuple(_flatten(c, leaves) for c in t)
        return TreeDef("tuple" if isinstance(t, tuple) else "list", None, kids)
    if isinstance(t, dict):
        keys = tuple(t)
        return TreeDef("dict", keys, tuple(_flatten(t[k], leaves) for k in keys))
    leaves.append(t)
    return _LEAF


def tree_unflatten(treedef: TreeDef, leaves: Any) -> Any:
    """Rebuild a pytree of ``treedef``'s structure from ``leaves``."""
    return _unflatten(treedef, iter(leaves))


def _unflatten(d: TreeDef, it: Any) -> Any:
    if d.kind == "leaf":
        return next(it)
    if d.kind == "none":
        return None
    kids = [_unflatten(c, it) for c in d.children]
    if d.kind == "tuple":
        return tuple(kids)
    if d.kind == "list":
        return kids
    return dict(zip(d.meta, kids))


def tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    leaves, d = tree_flatten(tree)
    return tree_unflatten(d, [fn(x) for x in leaves])
