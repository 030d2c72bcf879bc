"""numpy arrays as tvm_ffi tensors of the artifact's dtype, bfloat16 included. Standard library only.

numpy has no bfloat16, so the runtime holds bfloat16 leaves as their uint16 bit patterns, and
numpy's DLPack export then says "uint16", which the artifact's driver refuses. `tensor` asks numpy
for its (unversioned) DLPack capsule and relabels the dtype in place, before tvm_ffi takes the
capsule over: same memory, same shape and strides, dtype code kDLBfloat. numpy's deleter still
owns the memory, so the array lives as long as the tensor.
"""
from __future__ import annotations

import ctypes

import numpy as np
import tvm_ffi

K_DL_UINT, K_DL_BFLOAT = 1, 4


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    """The head of DLManagedTensor (dlpack.h): its DLTensor, up to the dtype."""

    _fields_ = [("data", ctypes.c_void_p), ("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32),
                ("ndim", ctypes.c_int32), ("dtype", _DLDataType)]


_capsule_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
    ("PyCapsule_GetPointer", ctypes.pythonapi))


def tensor(array: np.ndarray, precision: str) -> tvm_ffi.Tensor:
    """A tvm_ffi tensor viewing `array`; for bfloat16, `array` holds uint16 bit patterns."""
    if precision != "bfloat16":
        return tvm_ffi.from_dlpack(array)
    if array.dtype != np.uint16:
        raise TypeError(f"a bfloat16 tensor needs uint16 bit patterns, got dtype {array.dtype}.")
    capsule = array.__dlpack__()
    head = _DLTensor.from_address(_capsule_pointer(capsule, b"dltensor"))
    if (head.dtype.code, head.dtype.bits, head.dtype.lanes) != (K_DL_UINT, 16, 1):
        raise TypeError("numpy exported an unexpected DLPack dtype for a uint16 array.")
    head.dtype.code = K_DL_BFLOAT
    return tvm_ffi.from_dlpack(capsule)
