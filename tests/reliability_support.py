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


def delay_net():
    """An input through a DenseSynapse with axonal delays (1..3 steps) into a soma of 4 units."""
    from aotsnn.components.somas import ExponentialSoma
    from aotsnn.components.synapses import DenseSynapse
    from aotsnn.network import Network

    net = Network("delays", dt=0.1)
    net.add_input("x", (4,))
    net.add(DenseSynapse("syn", (4, 4), max_delay_steps=3, delays=[1, 2, 3, 1]))
    net.add(ExponentialSoma("soma", 4))
    net.connect("x", "syn.x")
    net.connect("syn.out", "soma.i")
    net.record("soma.spikes")
    return net


@functools.lru_cache(maxsize=None)
def delay_artifact() -> Path:
    """`delay_net` compiled for the host in float32 (built once per process)."""
    from aotsnn.export import compile_network

    return compile_network(delay_net(), _WORKDIR / "delays.aot")


@functools.lru_cache(maxsize=None)
def c_bundle() -> Path:
    """The small network as a C bundle of the `c` target (built once per process)."""
    from aotsnn.export import compile_network

    return compile_network(small_net(), _WORKDIR / "small_c.aot", target="c")


@functools.lru_cache(maxsize=None)
def artifact_with_dt(dt: float) -> Path:
    """The small network with another dt (its model.so differs only by dt)."""
    from aotsnn.export import compile_network

    return compile_network(build_ei_network(n_exc=40, n_inh=10, p_conn=0.3, dt=dt), _WORKDIR / f"small_dt{dt}.aot")


def resealed_copy(source: Path, dest: Path, edit=None, files: dict[str, bytes] | None = None) -> Path:
    """A copy of the artifact `source` at `dest` with `files` replaced (name -> bytes) and the
    manifest edited by `edit(manifest)`, with hashes, sizes and seal recomputed: a forgery that
    passes every hash check."""
    import json

    from aotsnn.runtime.format import sealed_manifest, sha256_of

    shutil.copytree(source, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest.pop("manifest_sha256")
    for name, data in (files or {}).items():
        (dest / name).write_bytes(data)
        manifest["files"][name] = sha256_of(dest / name)
        if "file_bytes" in manifest:
            manifest["file_bytes"][name] = len(data)
    if edit is not None:
        edit(manifest)
    (dest / "manifest.json").write_bytes(sealed_manifest(manifest))
    return dest


def swap_same_shape_state(manifest: dict) -> None:
    """Swap the names of the first two state leaves of one shape (a lie no shape check sees)."""
    state = manifest["layout"]["state"]
    i, j = [k for k, leaf in enumerate(state) if leaf["shape"] == state[0]["shape"]][:2]
    state[i]["name"], state[j]["name"] = state[j]["name"], state[i]["name"]
