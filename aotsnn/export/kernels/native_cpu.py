"""Specialise a target to the CPU of the machine that compiles (the `host` target).

    tvm_target, cpu = specialise(get("host"))
    # {"kind": "llvm", "mcpu": "znver5"}, {"mcpu": "znver5", "cpu_flags": ["avx", "avx2", ...]}

TVM's LLVM target without `mcpu` is a generic x86-64 (SSE2, 4 floats per vector); the same
kernels compiled for the actual CPU use its widest vectors (AVX-512 here: 4x the lanes) and its
FMA units. TVM creates the LLVM target machine with `AllowFPOpFusion = Fast`, so on a CPU with
FMA a product feeding a sum may be fused into one rounding: host results are then not
bit-identical to the C bundles (which are compiled with -ffp-contract=off) but as close to the
float64 reference (docs/targets.md). The flags recorded here are what the runtime checks before
it maps the kernels (aotsnn.runtime.cpu).
"""
from __future__ import annotations

from typing import Any

import tvm
from tvm.target import codegen

from aotsnn.runtime.cpu import LLVM_TO_CPUINFO
from aotsnn.targets import Target


def specialise(target: Target) -> tuple[dict[str, Any], dict[str, Any]]:
    """(TVM target dict, CPU facts for the manifest) of `target` on this machine."""
    if not target.native_cpu:
        return dict(target.tvm_target), {}
    cpu = str(codegen.llvm_get_system_cpu())
    tvm_target = {**target.tvm_target, "mcpu": cpu}
    features = codegen.llvm_get_cpu_features(tvm.target.Target(tvm_target))
    flags = sorted(LLVM_TO_CPUINFO[name] for name in features if name in LLVM_TO_CPUINFO)
    return tvm_target, {"mcpu": cpu, "cpu_flags": flags}
