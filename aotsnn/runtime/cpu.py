"""CPU instruction-set extensions: what a host artifact needs and what this CPU has. Standard library only.

A `host` artifact is compiled for the CPU of the machine that builds it (LLVM `-mcpu`), so its
kernels may use AVX2, FMA or AVX-512. Run on a CPU without them it would die of SIGILL in the
middle of a step; instead the manifest lists the extensions (`target.cpu_flags`, in the names of
Linux's /proc/cpuinfo) and `open_artifact` refuses a CPU that lacks one, naming it.

LLVM_TO_CPUINFO maps LLVM's x86 feature names to /proc/cpuinfo flags for the extensions that
change which vector instructions LLVM emits; other features are not recorded.
"""
from __future__ import annotations

from pathlib import Path

LLVM_TO_CPUINFO = {
    "sse3": "pni", "ssse3": "ssse3", "sse4.1": "sse4_1", "sse4.2": "sse4_2", "popcnt": "popcnt",
    "avx": "avx", "avx2": "avx2", "fma": "fma", "f16c": "f16c", "bmi": "bmi1", "bmi2": "bmi2",
    "avx512f": "avx512f", "avx512bw": "avx512bw", "avx512dq": "avx512dq", "avx512vl": "avx512vl",
    "avx512cd": "avx512cd", "avx512vnni": "avx512_vnni", "avx512bf16": "avx512_bf16",
    "avx512fp16": "avx512_fp16", "avx512vbmi": "avx512vbmi", "avx512vbmi2": "avx512_vbmi2",
    "avx512ifma": "avx512ifma", "avx512bitalg": "avx512_bitalg", "avx512vpopcntdq": "avx512_vpopcntdq",
}

CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path = CPUINFO) -> set[str] | None:
    """The extension flags of this CPU (first processor of /proc/cpuinfo), None where unknown."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return None


def missing_flags(required: list[str], cpuinfo: Path = CPUINFO) -> list[str]:
    """The flags of `required` this CPU lacks ([] where the CPU cannot be inspected)."""
    present = cpu_flags(cpuinfo)
    if present is None:
        return []
    return [flag for flag in required if flag not in present]
