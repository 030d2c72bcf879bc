"""CPU schedule rules of our own, applied next to dlight's GEMV and Reduction rules.

VectorizeElementwise: a fused kernel made only of elementwise/broadcast blocks (the soma and
synapse updates) is inlined into its output blocks, whose loops are fused and split into
vectors of the widest of LANES that divides the extent (16, 8, 4 or 2 floats); loops of at
least PARALLEL_MIN_ELEMENTS are run in parallel over the vectors. Without it TVM emits scalar
loops for these kernels. Each element is computed the same way whatever thread computes it,
so results do not depend on the number of threads. A kernel with a reduction block is never
taken, even when its reduction has extent 1 (dlight then reports the block as injective).
"""
from __future__ import annotations

from tvm import s_tir, tirx
from tvm.s_tir.dlight.analysis import normalize_prim_func
from tvm.s_tir.dlight.base.common_schedules import try_inline
from tvm.s_tir.dlight.base.utils import get_extent
from tvm.s_tir.dlight.cpu.base import CPUScheduleRule

LANES = (16, 8, 4, 2)
# From this many elements on, the vector loop is also split across threads (csrc/thread_pool.c).
# Below it the arrays of a step fit in one core's L2 cache, and splitting them costs more (cache
# lines moving between cores, ~0.2 us per launch) than it saves. Measured here (2 cores, Zen 5,
# `workloads.driven_population`, driver steps/s at 1 / 2 threads): 16,384 neurons 58k / 27k,
# 32,768 28.6k / 32.8k, 65,536 12.3k / 15.6k.
PARALLEL_MIN_ELEMENTS = 32768


def fused_output_loops(func: tirx.PrimFunc, *, keep_scalar_blocks: bool = False):
    """(schedule, [(fused loop, extent)]) of an injective kernel, its intermediate blocks inlined
    and each output block's loops fused into one; None for any other kernel. A block without
    loops (a scalar result) is left out, or given a unit loop with `keep_scalar_blocks`."""
    sch = s_tir.Schedule(func)
    try:
        infos = normalize_prim_func(sch)
    except Exception:   # plain-loop kernels (event matmul, CSR) have no blocks to analyse
        return None
    # A reduction over a unit extent (a batched outer product x[:, :, None] @ y[:, None, :], as a
    # per-sample plastic synapse's Hebbian product) has its loop normalised away and looks
    # injective, but inlining its consumers into it would read the output as the accumulator.
    if not infos or not all(info.is_injective() and not info.is_reduction() for info in infos):
        return None
    loops = []
    for info in try_inline(sch, infos):
        block_loops = sch.get_loops(info.block_rv)
        if not block_loops and not keep_scalar_blocks:
            continue
        fused = sch.add_unit_loop(info.block_rv) if not block_loops else \
            sch.fuse(*block_loops) if len(block_loops) > 1 else block_loops[0]
        extent = get_extent(sch, fused)
        loops.append((fused, extent if isinstance(extent, int) else None))
    return sch, loops


class VectorizeElementwise(CPUScheduleRule):
    """Inline the intermediate blocks of an injective kernel and vectorise its output loops."""

    def apply(self, func: tirx.PrimFunc, target, _tunable: bool):
        if not isinstance(func, tirx.PrimFunc) or not self.is_target_available(target):
            return None
        found = fused_output_loops(func)
        if found is None:
            return None
        sch, loops = found
        for fused, extent in loops:
            lanes = next((n for n in LANES if extent is not None and extent >= n and extent % n == 0), None)
            outer = fused
            if lanes is not None:
                outer, inner = sch.split(fused, factors=[None, lanes])
                sch.vectorize(inner)
            if extent is not None and extent >= PARALLEL_MIN_ELEMENTS:
                sch.parallel(outer)
        return sch
