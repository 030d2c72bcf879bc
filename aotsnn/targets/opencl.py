"""Any OpenCL 1.2 device (Arm Mali, Qualcomm Adreno, Intel/AMD GPUs; PoCL on a CPU in CI): TVM's
OpenCL C kernels from the GPU schedules the cuda target uses, launched by a generated plain-C
driver that opens the OpenCL ICD loader at run time (aotsnn/export/codegen/opencl_driver.py).
The artifact builds wherever a C compiler and the OpenCL headers are; it runs only where
aotsnn.runtime.opencl finds a device (AOTSNN_OPENCL_DEVICE="P:D" picks one)."""
import platform

from aotsnn.targets import Target

TARGET = Target(
    name="opencl",
    description="OpenCL 1.2 device (TVM OpenCL C kernels, the cuda target's GPU schedules, plain-C driver)",
    tvm_target={"kind": "opencl"},
    machine=platform.machine(),
    cc="gcc",
    cflags=("-O2", "-std=gnu99", "-fno-fast-math"),
    requires={"gcc": "gcc", "/usr/include/CL/cl.h": "ocl-icd-opencl-dev"},
    device="opencl",
    rtol=1e-5,
    atol=1e-4,
)
