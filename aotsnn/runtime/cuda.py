"""Is there an NVIDIA GPU this process can use? Standard library only (ctypes on the driver API).

A `cuda` artifact links the CUDA runtime statically; what it needs from the machine is the
NVIDIA driver (libcuda.so.1) and a GPU of compute capability 8.0 or newer (its kernels are
compiled for sm_80 and sm_90). `open_artifact` asks here before it loads one.
"""
from __future__ import annotations

import ctypes

MIN_CAPABILITY = (8, 0)
_MAJOR, _MINOR = 75, 76        # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_{MAJOR,MINOR}


def cuda_devices() -> tuple[int, str]:
    """(number of usable CUDA devices, why there is none)."""
    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0, "no NVIDIA driver (libcuda.so.1 not found)"
    if driver.cuInit(0) != 0:
        return 0, "the NVIDIA driver found no usable GPU (cuInit failed)"
    count = ctypes.c_int(0)
    if driver.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value == 0:
        return 0, "no CUDA device"
    usable = 0
    for index in range(count.value):
        device, major, minor = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0)
        if (driver.cuDeviceGet(ctypes.byref(device), index) == 0
                and driver.cuDeviceGetAttribute(ctypes.byref(major), _MAJOR, device) == 0
                and driver.cuDeviceGetAttribute(ctypes.byref(minor), _MINOR, device) == 0
                and (major.value, minor.value) >= MIN_CAPABILITY):
            usable += 1
    if usable == 0:
        return 0, f"no GPU of compute capability {MIN_CAPABILITY[0]}.{MIN_CAPABILITY[1]} or newer"
    return usable, ""
