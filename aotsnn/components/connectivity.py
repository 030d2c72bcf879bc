"""Sparse connectivity: which (pre, post) pairs a synapse connects, drawn without a dense array.

A synapse built with `connectivity=` keeps its connections as a list of synapses in CSR order
(sorted by presynaptic index, then postsynaptic index), never as an (n_pre, n_post) matrix:

    pre_start  (n_pre + 1,) int32   the synapses of input i are pre_start[i] : pre_start[i + 1]
    post_index (n_syn,)     int32   the output each synapse reaches

so memory grows with the number of synapses, not with n_pre * n_post. The rules, like
Brian2's `connect(p=...)` and NEST's `fixed_indegree` / `fixed_outdegree` / `one_to_one`:

    FixedInDegree(k)    every output receives exactly k distinct inputs (uniform, no multapses)
    FixedOutDegree(k)   every input reaches exactly k distinct outputs
    Bernoulli(p)        every pair independently with probability p (p_conn, without the mask)
    Explicit(pre, post) the given pairs (multapses allowed: their weights add)

Each rule draws from a `numpy.random.Generator`: reproducible from the synapse's seed, and
vectorised, so a million neurons at in-degree 80 (8e7 synapses) draw in seconds.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

INDEX_DTYPE = np.int32
MAX_SYNAPSES = np.iinfo(INDEX_DTYPE).max      # indices are int32 on every target


@dataclass(frozen=True)
class Connections:
    """Synapses in CSR order: `pre_start` (n_pre + 1,) and `post_index` (n_syn,), both int32."""

    pre_start: np.ndarray
    post_index: np.ndarray

    @property
    def n_synapses(self) -> int:
        return int(self.post_index.shape[0])

    def pre_index(self) -> np.ndarray:
        """The input of each synapse, (n_syn,) int32."""
        return np.repeat(np.arange(len(self.pre_start) - 1, dtype=INDEX_DTYPE), np.diff(self.pre_start))

    def in_degree(self, n_post: int) -> np.ndarray:
        """Synapses per output, (n_post,)."""
        return np.bincount(self.post_index, minlength=n_post)


def csr(pre_start: np.ndarray, post_index: np.ndarray) -> Connections:
    """Connections from int64 CSR arrays, refusing more synapses than int32 indices address."""
    if int(pre_start[-1]) > MAX_SYNAPSES:
        raise ValueError(f"{int(pre_start[-1])} synapses exceed the int32 index range ({MAX_SYNAPSES}); "
                         "split the projection into several synapses.")
    return Connections(pre_start.astype(INDEX_DTYPE), post_index.astype(INDEX_DTYPE))


def row_starts(pre: np.ndarray, n_pre: int) -> np.ndarray:
    """(n_pre + 1,) int64 offsets of the rows of sorted presynaptic indices `pre`."""
    pre_start = np.zeros(n_pre + 1, dtype=np.int64)
    np.cumsum(np.bincount(pre, minlength=n_pre), out=pre_start[1:])
    return pre_start


def from_pairs(pre: np.ndarray, post: np.ndarray, n_pre: int) -> Connections:
    """CSR of (pre, post) pairs in any order: sorted by pre, then post (a stable sort keeps post
    order within a row when the pairs come sorted by post)."""
    pre, post = np.asarray(pre, dtype=np.int64).ravel(), np.asarray(post, dtype=np.int64).ravel()
    return csr(row_starts(pre, n_pre), post[np.lexsort((post, pre))])


def distinct_per_row(rows: int, k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """(rows, k) integers in [0, n), distinct within each row, each row sorted ascending.

    Rows are drawn with replacement and only those with a repeat are drawn again, so the cost is
    about one draw per entry while k is well below n (a repeat is then rare).
    """
    if k > n:
        raise ValueError(f"cannot draw {k} distinct partners out of {n}.")
    if 2 * k > n:       # dense rows: a permutation per row is cheaper than redrawing
        return np.sort(np.argsort(rng.random((rows, n)), axis=1)[:, :k], axis=1)
    out = np.sort(rng.integers(0, n, size=(rows, k)), axis=1)
    redo = np.flatnonzero(np.any(out[:, 1:] == out[:, :-1], axis=1)) if k > 1 else np.zeros(0, int)
    while redo.size:
        out[redo] = np.sort(rng.integers(0, n, size=(redo.size, k)), axis=1)
        again = np.any(out[redo, 1:] == out[redo, :-1], axis=1)
        redo = redo[again]
    return out


class Connectivity(ABC):
    """A rule that draws the synapses of an (n_pre, n_post) projection."""

    @abstractmethod
    def draw(self, n_pre: int, n_post: int, rng: np.random.Generator) -> Connections:
        """The synapses in CSR order."""

    def describe(self) -> str:
        return repr(self)


def _check_degree(rule: str, k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{rule}: the degree `k` must be a positive integer, got {k!r}.")
    return int(k)


@dataclass(frozen=True)
class FixedInDegree(Connectivity):
    """Every output receives exactly `k` distinct inputs, uniformly (autapses allowed)."""

    k: int

    def __post_init__(self) -> None:
        _check_degree("FixedInDegree", self.k)

    def draw(self, n_pre: int, n_post: int, rng: np.random.Generator) -> Connections:
        if self.k > n_pre:
            raise ValueError(f"FixedInDegree(k={self.k}) needs at least k inputs, got n_in={n_pre}; lower k.")
        pre = distinct_per_row(n_post, self.k, n_pre, rng)                   # (n_post, k)
        post = np.repeat(np.arange(n_post, dtype=np.int64), self.k)
        pre = pre.ravel()
        order = np.argsort(pre, kind="stable")                               # post stays sorted per row
        return csr(row_starts(pre, n_pre), post[order])


@dataclass(frozen=True)
class FixedOutDegree(Connectivity):
    """Every input reaches exactly `k` distinct outputs, uniformly (autapses allowed)."""

    k: int

    def __post_init__(self) -> None:
        _check_degree("FixedOutDegree", self.k)

    def draw(self, n_pre: int, n_post: int, rng: np.random.Generator) -> Connections:
        if self.k > n_post:
            raise ValueError(f"FixedOutDegree(k={self.k}) needs at least k outputs, got n_out={n_post}; lower k.")
        post = distinct_per_row(n_pre, self.k, n_post, rng)                  # rows already in CSR order
        return csr(np.arange(0, (n_pre + 1) * self.k, self.k, dtype=np.int64), post.ravel())


@dataclass(frozen=True)
class Bernoulli(Connectivity):
    """Each (pre, post) pair independently with probability `p` in (0, 1].

    Drawn as gaps between connected pairs in row-major order (geometric with parameter p), the
    trick Brian2 uses, so the cost grows with the synapses drawn, not with n_pre * n_post.
    """

    p: float

    def __post_init__(self) -> None:
        if isinstance(self.p, bool) or not isinstance(self.p, (int, float)) or not 0 < self.p <= 1:
            raise ValueError(f"Bernoulli: `p` must be in (0, 1], got {self.p!r}.")

    def draw(self, n_pre: int, n_post: int, rng: np.random.Generator) -> Connections:
        total = n_pre * n_post
        if self.p == 1:
            flat = np.arange(total, dtype=np.int64)
        else:
            expected = total * self.p
            chunk = int(expected + 6 * np.sqrt(expected) + 16)
            parts, position = [], -1
            while position < total:
                gaps = rng.geometric(self.p, size=chunk)
                positions = position + np.cumsum(gaps)
                parts.append(positions[positions < total])
                position = int(positions[-1])
            flat = np.concatenate(parts)
        pre, post = np.divmod(flat, n_post)
        return csr(row_starts(pre, n_pre), post)


@dataclass(frozen=True, eq=False)
class Explicit(Connectivity):
    """The given pairs: `pre` and `post` are equal-length integer sequences (multapses add)."""

    pre: Any
    post: Any

    def draw(self, n_pre: int, n_post: int, rng: np.random.Generator) -> Connections:
        pre, post = np.asarray(self.pre), np.asarray(self.post)
        for name, value, n in (("pre", pre, n_pre), ("post", post, n_post)):
            if value.ndim != 1 or (value.size and value.dtype.kind not in "iu"):
                raise ValueError(f"Explicit: `{name}` must be a 1-D sequence of integers, got {value.dtype} "
                                 f"of shape {value.shape}.")
            if value.size and (value.min() < 0 or value.max() >= n):
                raise ValueError(f"Explicit: `{name}` indices must be in [0, {n - 1}], got {value.min()}..{value.max()}.")
        if pre.shape != post.shape:
            raise ValueError(f"Explicit: `pre` and `post` must have equal lengths, got {pre.size} and {post.size}.")
        return from_pairs(pre, post, n_pre)

    def describe(self) -> str:
        return f"Explicit({np.size(self.pre)} pairs)"


def check_connections(owner: str, pre_start: np.ndarray, post_index: np.ndarray, n_pre: int, n_post: int) -> None:
    """ValueError naming the bad leaf unless (pre_start, post_index) is a valid CSR of (n_pre, n_post)."""
    pre_start, post_index = np.asarray(pre_start), np.asarray(post_index)
    for name, value in (("pre_start", pre_start), ("post_index", post_index)):
        if value.dtype != INDEX_DTYPE:
            raise ValueError(f"In {owner}: `{name}` must be int32 synapse indices, got dtype {value.dtype}.")
    if pre_start.shape != (n_pre + 1,) or pre_start[0] != 0 or pre_start[-1] != post_index.shape[0] \
            or np.any(np.diff(pre_start) < 0):
        raise ValueError(f"In {owner}: `pre_start` must be (n_in + 1,) = ({n_pre + 1},), non-decreasing from 0 "
                         f"to the number of synapses {post_index.shape[0]}.")
    if post_index.size and (post_index.min() < 0 or post_index.max() >= n_post):
        raise ValueError(f"In {owner}: `post_index` must be in [0, {n_post - 1}], "
                         f"got {post_index.min()}..{post_index.max()}.")
    if post_index.shape[0] > MAX_SYNAPSES:
        raise ValueError(f"In {owner}: {post_index.shape[0]} synapses exceed the int32 index range.")
    pre = np.repeat(np.arange(n_pre, dtype=np.int64), np.diff(pre_start))
    order = pre * n_post + post_index            # CSR order: by input, then output (the GPU scatter searches it)
    if np.any(np.diff(order) < 0):
        first = int(np.flatnonzero(np.diff(order) < 0)[0]) + 1
        raise ValueError(f"In {owner}: the synapses must be in CSR order, `post_index` ascending within each input's "
                         f"synapses pre_start[i]:pre_start[i + 1]; synapse {first} (input {pre[first]}) is not; "
                         "build them with aotsnn.components.connectivity.from_pairs, which sorts.")
