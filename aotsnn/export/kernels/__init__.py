"""Kernels: Relax -> fused TIR kernels (plan, fusion, CPU and GPU schedules, hand-written event/CSR/exp kernels, runtime-free C)."""
