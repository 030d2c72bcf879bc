"""Spike decisions that rounding decides: the one documented exception to exact spikes.

The one-step check compares the artifact (float32, say) with JAX in float64 from the same state.
A unit whose membrane lands within float32's rounding of its threshold can spike in one and not
in the other; with 10^6 units and tens of steps such a unit turns up (COBA at N = 10^6: one in
3 x 10^7 decisions). A differing decision is *excused* when JAX at the artifact's precision, from
the same state, makes the artifact's decision: the artifact then computed what the model computes
in that precision, and only the precision decided. For an excused (step, unit) the leaves of the
same component with the spike's shape (membrane, refractory counter, previous spikes: the reset
follows the decision) are compared with that reference instead of the float64 one. A decision the
low-precision reference does not share stays a failure.
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np


def component_of(leaf: str) -> str:
    return leaf.rsplit(".", 1)[0]


def excuse_rounding(got: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray],
                    low_reference: Callable[[], Mapping[str, np.ndarray]],
                    is_spike_leaf: Callable[[str], bool]) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """(the reference with excused positions taken from the low-precision one, spike leaf ->
    excused decisions). `low_reference` is called only when some decision differs."""
    flips = {name: (np.asarray(got[name]) > 0.5) != (np.asarray(reference[name]) > 0.5)
             for name in got if is_spike_leaf(name)}
    if not any(flip.any() for flip in flips.values()):
        return dict(reference), {}
    low = low_reference()
    excused: dict[str, np.ndarray] = {}
    for name, flip in flips.items():
        same_as_low = (np.asarray(got[name]) > 0.5) == (np.asarray(low[name]) > 0.5)
        mask = flip & same_as_low
        owner = component_of(name)
        excused[owner] = mask if owner not in excused else excused[owner] | mask
    patched = dict(reference)
    for name in got:
        mask = excused.get(component_of(name))
        if mask is not None and mask.any() and np.shape(got[name]) == mask.shape:
            patched[name] = np.where(mask, np.asarray(low[name], np.float64), np.asarray(reference[name], np.float64))
    counts = {name: int((flips[name] & excused[component_of(name)]).sum()) for name in flips}
    return patched, {name: n for name, n in counts.items() if n}
