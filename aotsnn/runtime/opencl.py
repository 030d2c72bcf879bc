"""Which OpenCL devices can this process use? Standard library only (ctypes on the ICD loader).

An `opencl` artifact opens the OpenCL ICD loader (libOpenCL.so.1) itself when it first runs, and
picks a device the same way as `choose_device` here: the device named by the environment
variable AOTSNN_OPENCL_DEVICE, else the first GPU of any platform, else the first device of any
platform. `open_artifact` asks here before it loads one, and `aotsnn targets` lists what it finds.

AOTSNN_OPENCL_DEVICE is "P:D": the platform index P and the index D of the device within that
platform, both counted from 0 in the order the ICD loader reports them (the order `aotsnn
targets` prints), e.g. AOTSNN_OPENCL_DEVICE=0:1 for the second device of the first platform.
"""
from __future__ import annotations

import ctypes
import os
import re
from dataclasses import dataclass

ENV = "AOTSNN_OPENCL_DEVICE"
ICD_LOADER = "libOpenCL.so.1"
_PLATFORM_NAME, _DEVICE_NAME, _DEVICE_TYPE = 0x0902, 0x102B, 0x1000   # CL_PLATFORM_NAME, CL_DEVICE_NAME, _TYPE
_DEVICE_TYPE_GPU, _DEVICE_TYPE_ALL = 1 << 2, 0xFFFFFFFF
_TYPES = {1 << 1: "CPU", 1 << 2: "GPU", 1 << 3: "accelerator", 1 << 4: "custom"}


@dataclass(frozen=True)
class OpenCLDevice:
    """One device as the ICD loader reports it: `platform`:`index` is how AOTSNN_OPENCL_DEVICE names it."""

    platform: int
    index: int
    platform_name: str
    name: str
    kind: str            # "GPU", "CPU", "accelerator", "custom"

    def __str__(self) -> str:
        return f"{self.platform}:{self.index} {self.name} ({self.kind}, {self.platform_name})"


def _info(get, handle, key: int) -> str:
    size = ctypes.c_size_t(0)
    if get(handle, key, 0, None, ctypes.byref(size)) != 0:
        return "?"
    buffer = ctypes.create_string_buffer(size.value)
    if get(handle, key, size, buffer, None) != 0:
        return "?"
    return buffer.value.decode(errors="replace").strip()


def opencl_devices() -> tuple[list[OpenCLDevice], str]:
    """(every OpenCL device of every platform, why there is none)."""
    try:
        cl = ctypes.CDLL(ICD_LOADER)
    except OSError:
        return [], f"no OpenCL ICD loader ({ICD_LOADER} not found: apt-get install ocl-icd-libopencl1 and a driver, " \
                   "e.g. pocl-opencl-icd)"
    count = ctypes.c_uint(0)
    if cl.clGetPlatformIDs(0, None, ctypes.byref(count)) != 0 or count.value == 0:
        return [], "no OpenCL platform (the ICD loader found no driver: install one, e.g. pocl-opencl-icd)"
    platforms = (ctypes.c_void_p * count.value)()
    if cl.clGetPlatformIDs(count.value, platforms, None) != 0:
        return [], "clGetPlatformIDs failed"
    found = []
    for p, platform in enumerate(platforms):
        platform_name = _info(cl.clGetPlatformInfo, ctypes.c_void_p(platform), _PLATFORM_NAME)
        n = ctypes.c_uint(0)
        if cl.clGetDeviceIDs(ctypes.c_void_p(platform), ctypes.c_uint64(_DEVICE_TYPE_ALL), 0, None,
                             ctypes.byref(n)) != 0 or n.value == 0:
            continue
        devices = (ctypes.c_void_p * n.value)()
        if cl.clGetDeviceIDs(ctypes.c_void_p(platform), ctypes.c_uint64(_DEVICE_TYPE_ALL), n.value, devices, None) != 0:
            continue
        for d, device in enumerate(devices):
            kind = ctypes.c_uint64(0)
            cl.clGetDeviceInfo(ctypes.c_void_p(device), _DEVICE_TYPE, ctypes.sizeof(kind), ctypes.byref(kind), None)
            label = next((v for k, v in _TYPES.items() if kind.value & k), "unknown")
            found.append(OpenCLDevice(p, d, platform_name, _info(cl.clGetDeviceInfo, ctypes.c_void_p(device),
                                                                 _DEVICE_NAME), label))
    if not found:
        return [], "the OpenCL platforms have no devices"
    return found, ""


def parse_device(text: str) -> tuple[int, int]:
    """(platform, device) of an AOTSNN_OPENCL_DEVICE value "P:D"; ValueError naming the variable otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", text)
    if match is None:
        raise ValueError(f"{ENV}={text!r} is not 'P:D' (platform and device index from 0, as `aotsnn targets` "
                         f"lists them), e.g. {ENV}=0:0; unset it to take the first GPU, else the first device.")
    return int(match[1]), int(match[2])


def choose_device() -> tuple[OpenCLDevice | None, str]:
    """(the device an opencl artifact runs on here, why there is none): AOTSNN_OPENCL_DEVICE,
    else the first GPU, else the first device."""
    devices, why = opencl_devices()
    if not devices:
        return None, why
    wanted = os.environ.get(ENV, "").strip()
    if wanted:
        try:
            p, d = parse_device(wanted)
        except ValueError as exc:
            return None, str(exc)
        for device in devices:
            if (device.platform, device.index) == (p, d):
                return device, ""
        return None, (f"{ENV}={wanted} names no device; present: {'; '.join(map(str, devices))}")
    gpus = [device for device in devices if device.kind == "GPU"]
    return (gpus or devices)[0], ""
