"""NVIDIA GPUs of compute capability 8.0 and 9.0 (A100, H100 class): TVM's CUDA code generator,
nvcc, the CUDA runtime linked statically. The artifact builds wherever nvcc is; it runs only
where an NVIDIA driver and such a GPU are (aotsnn.runtime.cuda)."""
import platform

from aotsnn.targets import Target

TARGET = Target(
    name="cuda",
    description="NVIDIA GPU, sm_80/sm_90 (TVM CUDA kernels + CUDA driver, nvcc, cudart static)",
    tvm_target={"kind": "cuda"},
    machine=platform.machine(),
    cc="nvcc",
    cflags=(),
    requires={"nvcc": "nvidia-cuda-toolkit"},
    device="cuda",
    rtol=1e-5,
    atol=1e-4,
    extra={"arches": ("sm_80", "sm_90")},
)
