"""Counter-based random numbers inside the compiled step: jax.random's threefry2x32, keys in the state.

A component that draws keeps one key per batch row in an integer state leaf `key` of shape
(batch, 2), dtype uint32 (the raw data of a threefry2x32 key). Each step splits it,

    key_{t+1}, sub_t = split(key_t),      draws_t = f(sub_t)

so the draws of step t are a pure function of the state: a run resumed from a saved state
continues with exactly the numbers the uninterrupted run would have drawn, and every target
produces the same bits (threefry is uint32 adds, rotations and xors; the uniform float32 is
(bits >> 9 | 0x3F800000) read as a float, minus 1: exact everywhere). Uniform draws are always
float32, whatever the precision, so a float64 reference draws the same numbers; normal draws
go through erf_inv (log, sqrt), exact only to the target's tolerance.

Seeds. A component's stream is derived from its `seed` *and its name*: row b of its initial
keys is split(fold_in(PRNGKey(seed), crc32(name)), batch)[b]. So two components with the same
seed (the default 0 included) draw independent streams, and one component draws the same
stream in every network that gives it the same name, seed and batch. Renaming a component
changes its numbers; the batch rows of one component are independent streams too.
"""
from __future__ import annotations

from typing import Any, Callable

import zlib

import jax
import jax.numpy as jnp
import numpy as np

IMPL = "threefry2x32"


def check_seed(label: str, seed: Any) -> int:
    """`seed` as an int in [0, 2**32), or a ValueError naming the component `label`."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2 ** 32:
        raise ValueError(f"In {label}: `seed` must be an integer in [0, 2**32), got {seed!r}.")
    return int(seed)


def initial_keys(seed: int, batch: int, stream: str) -> np.ndarray:
    """(batch, 2) uint32: row b is the key data of split(fold_in(PRNGKey(seed), crc32(stream)), batch)[b];
    `stream` is the component's name (see the module docstring)."""
    seed = check_seed(repr(stream), seed)
    with jax.ensure_compile_time_eval():         # init_state is also called while a step is traced
        root = jax.random.fold_in(jax.random.key(seed, impl=IMPL), zlib.crc32(stream.encode()))
        keys = jax.random.split(root, batch)
        return np.asarray(jax.random.key_data(keys), np.uint32).reshape(batch, 2)


def draw(keys: Any, sample: Callable[[Any], Any]) -> tuple[Any, Any]:
    """(next keys (batch, 2) uint32, sample(sub) stacked over the batch) for the keys of one step."""
    def one(key_data):
        key, sub = jax.random.split(jax.random.wrap_key_data(key_data, impl=IMPL))
        return jax.random.key_data(key), sample(sub)
    return jax.vmap(one)(keys)


def uniform(keys: Any, shape: tuple[int, ...]) -> tuple[Any, Any]:
    """(next keys, U[0, 1) float32 of shape (batch, *shape))."""
    return draw(keys, lambda sub: jax.random.uniform(sub, shape, dtype=jnp.float32))


def normal(keys: Any, shape: tuple[int, ...]) -> tuple[Any, Any]:
    """(next keys, N(0, 1) float32 of shape (batch, *shape))."""
    return draw(keys, lambda sub: jax.random.normal(sub, shape, dtype=jnp.float32))
