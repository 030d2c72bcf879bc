"""numpy arrays as tvm_ffi tensors of the artifact's dtype, bfloat16 and read-only arrays included.
Standard library only.

numpy has no bfloat16, so the runtime holds bfloat16 leaves as their uint16 bit patterns, and
numpy's DLPack export then says "uint16", which the artifact's driver refuses. `tensor` asks numpy
for its DLPack capsule and relabels the dtype in place, before tvm_ffi takes the capsule over:
same memory, same shape and strides, dtype code kDLBfloat. numpy's deleter still owns the memory,
so the array lives as long as the tensor.

Read-only arrays (a `np.load(..., mmap_mode="r")` input, a broadcast view) cannot travel in the
unversioned capsule, which has no read-only flag; the versioned capsule (DLPack 1.0, numpy >= 2.1)
carries the flag, and the driver only reads inputs. With an older numpy a read-only array is
copied first.
"""
from __future__ import annotations

import ctypes

import numpy as np
import tvm_ffi

K_DL_UINT, K_DL_BFLOAT = 1, 4


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    """The head of DLTensor (dlpack.h), up to the dtype."""

    _fields_ = [("data", ctypes.c_void_p), ("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32),
                ("ndim", ctypes.c_int32), ("dtype", _DLDataType)]


# DLManagedTensorVersioned: version (2 x uint32), manager_ctx, deleter, flags (uint64), then the DLTensor
_VERSIONED_HEAD_BYTES = 8 + 2 * ctypes.sizeof(ctypes.c_void_p) + 8
_CAPSULE_NAMES = {True: b"dltensor_versioned", False: b"dltensor"}

_capsule_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
    ("PyCapsule_GetPointer", ctypes.pythonapi))


def _capsule(array: np.ndarray) -> tuple[object, bool]:
    """(a DLPack capsule of `array`, whether it is versioned); read-only arrays need a version."""
    try:
        return array.__dlpack__(max_version=(1, 0)), True
    except TypeError:           # numpy < 2.1: unversioned only, which cannot say read-only
        return (array if array.flags.writeable else array.copy()).__dlpack__(), False


def tensor(array: np.ndarray, precision: str) -> tvm_ffi.Tensor:
    """A tvm_ffi tensor viewing `array`; for bfloat16, `array` holds uint16 bit patterns."""
    if precision == "bfloat16" and array.dtype != np.uint16:
        raise TypeError(f"a bfloat16 tensor needs uint16 bit patterns, got dtype {array.dtype}.")
    capsule, versioned = _capsule(array)
    if precision == "bfloat16":
        address = _capsule_pointer(capsule, _CAPSULE_NAMES[versioned]) + (_VERSIONED_HEAD_BYTES if versioned else 0)
        head = _DLTensor.from_address(address)
        if (head.dtype.code, head.dtype.bits, head.dtype.lanes) != (K_DL_UINT, 16, 1):
            raise TypeError("numpy exported an unexpected DLPack dtype for a uint16 array.")
        head.dtype.code = K_DL_BFLOAT
    return tvm_ffi.from_dlpack(capsule)
