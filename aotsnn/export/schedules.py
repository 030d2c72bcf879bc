"""CPU schedule rules of our own, applied next to dlight's GEMV and Reduction rules.

VectorizeElementwise: a fused kernel made only of elementwise/broadcast blocks (the soma and
synapse updates) is inlined into its output blocks, whose loops are fused and split into
vectors of the widest of LANES that divides the extent (16, 8, 4 or 2 floats). Without it TVM
emits scalar loops for these kernels.
"""
from __future__ import annotations

from tvm import s_tir, tirx
from tvm.s_tir.dlight.analysis import normalize_prim_func
from tvm.s_tir.dlight.base.common_schedules import try_inline
from tvm.s_tir.dlight.base.utils import get_extent
from tvm.s_tir.dlight.cpu.base import CPUScheduleRule

LANES = (16, 8, 4, 2)


class VectorizeElementwise(CPUScheduleRule):
    """Inline the intermediate blocks of an injective kernel and vectorise its output loops."""

    def apply(self, func: tirx.PrimFunc, target, _tunable: bool):
        if not isinstance(func, tirx.PrimFunc) or not self.is_target_available(target):
            return None
        sch = s_tir.Schedule(func)
        try:
            infos = normalize_prim_func(sch)
        except Exception:   # plain-loop kernels (event matmul, CSR) have no blocks to analyse
            return None
        if not infos or not all(info.is_injective() for info in infos):
            return None
        for info in try_inline(sch, infos):
            loops = sch.get_loops(info.block_rv)
            if not loops:
                continue
            fused = sch.fuse(*loops) if len(loops) > 1 else loops[0]
            extent = get_extent(sch, fused)
            lanes = next((n for n in LANES if isinstance(extent, int) and extent >= n and extent % n == 0), None)
            if lanes is not None:
                sch.vectorize(sch.split(fused, factors=[None, lanes])[1])
        return sch
