"""CPU schedule rules of our own, applied next to dlight's GEMV and Reduction rules.

VectorizeElementwise: a fused kernel made only of elementwise/broadcast blocks (the soma and
synapse updates) is inlined into its output blocks, whose loops are fused and split into
vectors of the widest of LANES that divides the extent (16, 8, 4 or 2 floats); loops of at
least PARALLEL_MIN_ELEMENTS are run in parallel over the vectors. A kernel with several outputs
over one domain (a merged population) runs them all in one loop over vectors, computing what
several outputs read once (one_loop_for_all_blocks). Without it TVM emits scalar
loops for these kernels. Each element is computed the same way whatever thread computes it,
so results do not depend on the number of threads. A kernel with a reduction block is never
taken, even when its reduction has extent 1 (dlight then reports the block as injective).
"""
from __future__ import annotations

import math
from typing import Callable

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


def fused_output_loops(func: tirx.PrimFunc, *, keep_scalar_blocks: bool = False,
                       keep_last: Callable[[list[int | None]], bool] | None = None):
    """(schedule, [(loops, extents)]) of an injective kernel, its intermediate blocks inlined and
    each output block's loops fused into one, `loops` = (fused,); with `keep_last(extents)` true
    for a block's loop extents (outer first), all but its last loop are fused: (outer, last).
    None for any other kernel. A block without loops (a scalar result) is left out, or given a
    unit loop with `keep_scalar_blocks`."""
    found = _injective_schedule(func)
    if found is None:
        return None
    sch, infos = found
    blocks = []
    for info in try_inline(sch, infos):
        block_loops = sch.get_loops(info.block_rv)
        if not block_loops:
            if keep_scalar_blocks:
                blocks.append(((sch.add_unit_loop(info.block_rv),), (1,)))
            continue
        blocks.append(_fuse_loops(sch, block_loops, keep_last))
    return sch, blocks


def _injective_schedule(func: tirx.PrimFunc):
    """(schedule, dlight's block infos) of a kernel made only of injective blocks, else None."""
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
    return sch, infos


def _fuse_loops(sch: s_tir.Schedule, block_loops: list, keep_last: Callable[[list[int | None]], bool] | None):
    """((fused,), (extent,)) of a block's loops fused into one, or with `keep_last(extents)` true
    all but the last fused: ((outer, last), (outer extent, last extent)). Extents are None where
    not static."""
    extents = [_static(get_extent(sch, loop)) for loop in block_loops]
    if len(block_loops) > 1 and keep_last is not None and keep_last(extents):
        outer = sch.fuse(*block_loops[:-1]) if len(block_loops) > 2 else block_loops[0]
        return (outer, block_loops[-1]), (_product(extents[:-1]), extents[-1])
    return (sch.fuse(*block_loops) if len(block_loops) > 1 else block_loops[0],), (_product(extents),)


def _static(extent) -> int | None:
    return extent if isinstance(extent, int) else None


def _product(extents: list[int | None]) -> int | None:
    return None if None in extents else math.prod(extents)


def _lanes(extent: int | None) -> int | None:
    """The widest of LANES that divides `extent` (None: none does, or the extent is not static)."""
    return next((n for n in LANES if extent is not None and extent >= n and extent % n == 0), None)


def _rows_cross_vectors(extents: list[int | None]) -> bool:
    """Fusing these loops would put one vector across two rows of the last axis: its loads of
    arrays indexed by the last axis alone (a broadcast row, a (n_in, n_out) matrix in a batched
    update) become gathers. E.g. (4, 100, 50): 20,000 elements in vectors of 16, rows of 50."""
    lanes, last = _lanes(_product(extents)), extents[-1]
    return last is not None and last >= LANES[-1] and (lanes is None or last % lanes != 0)


def _vectorise_row(sch: s_tir.Schedule, loop, extent: int) -> None:
    """The loop over one row as consecutive loops: whole vectors of LANES[0], then one vector of
    each narrower LANES that the rest needs, then at most one scalar (60 = 48 + 8 + 4, 7 = 4 +
    2 + 1). No masks: a masked vector loop is scalarised (a (100, 50) multiply: 6.0 us masked,
    0.8 us for (100, 48))."""
    whole = extent // LANES[0] * LANES[0]
    sizes = ([whole] if whole else []) + [n for n in (*LANES[1:], 1) if (extent - whole) & n]
    parts = sch.loop_partition(loop, factors=[*sizes[:-1], None]) if len(sizes) > 1 else [loop]
    for part, size in zip(parts, sizes):
        if size == whole:
            sch.vectorize(sch.split(part, factors=[None, LANES[0]])[1])
        elif size > 1:
            sch.vectorize(part)


class VectorizeElementwise(CPUScheduleRule):
    """Inline the intermediate blocks of an injective kernel and vectorise its output loops.

    Loops are fused into one and split into vectors of the widest of LANES that divides the
    extent, unless a vector would then straddle two rows of the last axis: the outer loops are
    then fused, and each row is whole vectors of LANES[0] and narrower vectors for the rest (a row
    of 50: three vectors of 16 and one of 2 lanes).
    """

    def apply(self, func: tirx.PrimFunc, target, _tunable: bool):
        if not isinstance(func, tirx.PrimFunc) or not self.is_target_available(target):
            return None
        return vectorise_in_one_loop(func) or vectorise_each_output(func)


def vectorise_each_output(func: tirx.PrimFunc) -> s_tir.Schedule | None:
    """Every intermediate inlined; each output block's loops vectorised on their own."""
    found = fused_output_loops(func, keep_last=_rows_cross_vectors)
    if found is None:
        return None
    sch, blocks = found
    for loops, extents in blocks:
        total = _product(list(extents))
        if len(loops) == 2:
            outer = loops[0]
            _vectorise_row(sch, loops[1], extents[1])
        else:
            outer, lanes = loops[0], _lanes(total)
            if lanes is not None:
                outer, inner = sch.split(loops[0], factors=[None, lanes])
                sch.vectorize(inner)
        if total is not None and total >= PARALLEL_MIN_ELEMENTS:
            sch.parallel(outer)
    return sch


def vectorise_in_one_loop(func: tirx.PrimFunc) -> s_tir.Schedule | None:
    """The blocks of one_loop_for_all_blocks, each split into vectors, and the loops over vectors
    merged into one, in order: vector i of every block before vector i + 1 of any (or row i of
    every block, each row vectorised as in _vectorise_row, before row i + 1). The vector loops
    stay one per block: a kept block's buffer is then used within one iteration of the shared
    loop, which TVM's buffer compaction turns into one vector or row (with the blocks in one
    vectorised loop it compacted the buffer to a single element, and the vector store into it
    was wrong). None where one_loop_for_all_blocks gives None."""
    shared = one_loop_for_all_blocks(func)
    if shared is None:
        return None
    sch, loops, extents = shared
    if len(extents) == 2:                  # rows a vector would straddle: one shared loop over rows
        outer = sch.merge(*[outer for outer, _ in loops])
        for _, row in loops:
            _vectorise_row(sch, row, extents[1])
    else:
        lanes = _lanes(extents[0])
        if lanes is not None:
            split = [sch.split(loop, factors=[None, lanes]) for (loop,) in loops]
            for _, inner in split:
                sch.vectorize(inner)
            loops = [(outer,) for outer, _ in split]
        outer = sch.merge(*[loop for (loop,) in loops])
    if math.prod(extents) >= PARALLEL_MIN_ELEMENTS:
        sch.parallel(outer)
    return sch


def one_loop_for_all_blocks(func: tirx.PrimFunc) -> tuple[s_tir.Schedule, list, tuple[int, ...]] | None:
    """(schedule, [each remaining block's loops, in order], extents) for an injective kernel with
    several outputs over one domain (a population's new potential, spikes and refractory counter:
    aotsnn.export.kernels.merge_elementwise), else None. A block's loops are fused into one,
    (fused,) over extents (n,), or where a vector would straddle rows (_rows_cross_vectors: a
    batch of 4 rows of 60 neurons) all but the last: (outer, row) over (rows, row length).

    A block read by one other block is inlined into it, and so are scalar blocks and comparisons
    (a bool is cheaper to recompute than to store). A block read by several (the potential before
    the reset: the spike test and the reset read it) stays, so it is computed once, not once per
    reader; inlining it into every reader also multiplied the expressions, and TVM's inlining
    time with them (2.3 s for COBA's population kernel, now 0.2 s). A kernel whose remaining
    blocks have different extents gets None: fused_output_loops takes it."""
    found = _injective_schedule(func)
    if found is None:
        return None
    sch, _ = found
    root = sch.get_sblock("root")
    outputs = {sch.get(b).name_hint for b in sch.get_output_blocks(root)}
    if len(outputs) < 2:
        return None
    try:
        for block in sch.get_child_blocks(root):
            if sch.get(block).name_hint not in outputs and \
                    (not sch.get_loops(block) or len(sch.get_consumers(block)) == 1
                     or str(sch.get(block).writes[0].source.dtype) == "bool"):
                sch.compute_inline(block)
    except s_tir.ScheduleError:
        return None
    loops, shared = [], set()
    for block in sch.get_child_blocks(root):
        block_loops = sch.get_loops(block)
        if not block_loops:
            return None
        fused, extents = _fuse_loops(sch, block_loops, _rows_cross_vectors)
        loops.append(fused)
        shared.add(extents)
    if len(shared) != 1 or None in next(iter(shared)):
        return None
    return sch, loops, shared.pop()
