"""Shared by the tests/test_reliability_*.py modules: small artifacts in every precision, built
once per test process (compiling is the slow part), and helpers to move values between numpy
and the artifact's storage dtype (bfloat16 as uint16 bits)."""
from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np

from aotsnn.demo import build_ei_network, demo_inputs
from aotsnn.runtime import bfloat16_bits, bfloat16_values

PRECISIONS = ("float32", "float16", "bfloat16", "float64")
_WORKDIR = Path(tempfile.mkdtemp(prefix="aotsnn-reliability-"))
atexit.register(shutil.rmtree, _WORKDIR, ignore_errors=True)


def small_net():
    """The E/I demo network with 50 neurons (the same as tests/conftest.py's `small_net`)."""
    return build_ei_network(n_exc=40, n_inh=10, p_conn=0.3)


@functools.lru_cache(maxsize=None)
def artifact(precision: str) -> Path:
    """The small network compiled for the host in `precision` (built once per process)."""
    from aotsnn.export import compile_network

    return compile_network(small_net(), _WORKDIR / f"small_{precision}.aot", precision=precision)


def to_storage(values: np.ndarray, precision: str) -> np.ndarray:
    """float values -> the artifact's storage dtype."""
    return bfloat16_bits(values) if precision == "bfloat16" else np.asarray(values).astype(precision)


def from_storage(array: np.ndarray, precision: str) -> np.ndarray:
    """The artifact's storage dtype -> float64 values."""
    return (bfloat16_values(array) if precision == "bfloat16" else array).astype(np.float64)


def inputs(steps: int, precision: str = "float32", seed: int = 3) -> dict[str, np.ndarray]:
    """Noisy drive of the small network, (steps, 1, n), in the artifact's storage dtype."""
    return {k: to_storage(v, precision) for k, v in demo_inputs(small_net(), steps, seed=seed).items()}
