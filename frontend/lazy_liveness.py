"""Which members of a realized group the kernel stores: those still needed outside the group.

A member is needed when the autograd graph keeps its value (:attr:`Group.kept
<frontend.lazy_graph.Group>`), or when something outside the group refers to it: a user's
variable, a pending op outside the group, a list. The second is read off CPython's reference
counts: the references to a member beyond the group's own (one per use inside the group, and
the group's member list) are outside ones.

The count's baseline (what ``sys.getrefcount`` gives for an object held by a list alone) is
measured at import by a probe written like the real query, so an interpreter that counts
differently (borrowed references on the stack, immortal objects) shifts the baseline, not the
answer. When the probe finds counts that do not add up (one more holder is not one more count),
:data:`BASELINE` is None and the decision falls back to what needs no counts: the kept members
and those that pending ops outside the group read. A member missed either way is not stored; it
stays pending and is computed again when read: one more launch, never a wrong value.
"""

from __future__ import annotations

import sys


class _Probe:
    __slots__ = ()


def _references(members: list, n: int) -> int:
    """``sys.getrefcount`` of ``members[n]``, taken as :func:`needed` takes it."""
    return sys.getrefcount(members[n])


def _held_in_frame(members: list) -> int:
    held = members[0]  # a caller's local variable: one reference
    count = _references(members, 0)
    del held
    return count


def calibrate() -> int | None:
    """The count of an object referred to by its list alone, or None when one more holder (a
    tuple, a frame's variable) is not exactly one more count."""
    members = [_Probe()]
    alone = _references(members, 0)
    pair = (members[0], members[0])
    twice = _references(members, 0)
    del pair
    local = _held_in_frame(members)
    again = _references(members, 0)
    if twice - alone == 2 and local - alone == 1 and again == alone and alone >= 1:
        return alone
    return None


#: the count of a member held only by the group's list; None: counts are not used
BASELINE: int | None = calibrate()


def needed(group, recorded: list) -> list[int]:
    """The positions of ``group``'s members the kernel stores (ascending; the root, last, always)."""
    members, kept, uses = group.members, group.kept, group.uses
    last = len(members) - 1
    baseline = BASELINE
    if baseline is not None:
        found = [n for n in range(last) if kept[n] or _references(members, n) - baseline > uses[n]]
    else:
        found = sorted(set(n for n in range(last) if kept[n]) | _read_outside(members, recorded))
    found.append(last)
    return found


def _read_outside(members: list, recorded: list) -> set[int]:
    """The members (but the last) that a pending tensor outside the group reads."""
    position = {id(m): n for n, m in enumerate(members)}
    found: set[int] = set()
    for ref in recorded:
        user = ref()
        if user is None or user._lazy is None or id(user) in position:
            continue
        found.update(n for s in user._lazy.inputs if (n := position.get(id(s))) is not None)
    found.discard(len(members) - 1)
    return found
