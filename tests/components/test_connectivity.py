"""Connectivity rules (aotsnn.components.connectivity) and the sparse synapse's product.

Each rule must draw what it promises (exact degrees, no repeated pair unless given, the CSR order
the kernels rely on), the same synapses for the same seed, and refuse what it cannot draw with a
message; `csr_matmul` over the synapses must equal `x @ W` for the dense W built from the pairs
(repeated pairs add).
"""
from __future__ import annotations

import numpy as np
import pytest

from aotsnn.components.connectivity import (Bernoulli, Explicit, FixedInDegree, FixedOutDegree, check_connections,
                                            from_pairs)
from aotsnn.components.synapses import DenseSynapse, ExponentialSynapse
from aotsnn.components.synapses.csr import csr_matmul

N_PRE, N_POST = 60, 40
RULES = {"in_degree": FixedInDegree(7), "out_degree": FixedOutDegree(9), "bernoulli": Bernoulli(0.15),
         "dense_in_degree": FixedInDegree(45)}       # 2k > n: drawn by permutations instead of redraws


def _draw(rule, seed: int = 0, shape: tuple[int, int] = (N_PRE, N_POST)):
    return rule.draw(*shape, np.random.default_rng(seed))


def _pairs(connections) -> np.ndarray:
    """(n_syn, 2) (pre, post) of every synapse, in storage order."""
    return np.stack([connections.pre_index(), connections.post_index], axis=1)


def _dense(connections, weights: np.ndarray, shape: tuple[int, int] = (N_PRE, N_POST)) -> np.ndarray:
    """The (n_pre, n_post) matrix of the synapses: repeated pairs add."""
    w = np.zeros(shape)
    np.add.at(w, (connections.pre_index(), connections.post_index), weights)
    return w


@pytest.mark.parametrize("name", sorted(RULES))
def test_synapses_are_in_csr_order_without_repeated_pairs(name):
    connections = _draw(RULES[name])
    check_connections(name, connections.pre_start, connections.post_index, N_PRE, N_POST)
    pairs = _pairs(connections)
    assert connections.pre_start.dtype == connections.post_index.dtype == np.int32
    assert np.all(np.diff(pairs[:, 0] * N_POST + pairs[:, 1]) > 0), "sorted by (pre, post), each pair once"


@pytest.mark.parametrize("k", [1, 7, 45, N_PRE])
def test_fixed_in_degree_gives_every_output_exactly_k_inputs(k):
    connections = _draw(FixedInDegree(k))
    assert np.array_equal(connections.in_degree(N_POST), np.full(N_POST, k))
    assert connections.n_synapses == k * N_POST


@pytest.mark.parametrize("k", [1, 9, N_POST])
def test_fixed_out_degree_gives_every_input_exactly_k_outputs(k):
    connections = _draw(FixedOutDegree(k))
    assert np.array_equal(np.diff(connections.pre_start), np.full(N_PRE, k))
    assert len(set(map(tuple, _pairs(connections)))) == k * N_PRE


def test_bernoulli_counts_follow_the_binomial():
    """Over 200 x 300 pairs at p = 0.05 the count is Binomial(60000, p) (mean 3000, sd 53); each
    input's count is Binomial(300, p) (mean 15, sd 3.8); p = 1 connects every pair."""
    n_pre, n_post, p = 200, 300, 0.05
    counts = np.array([_draw(Bernoulli(p), seed, (n_pre, n_post)).n_synapses for seed in range(5)])
    mean, sd = n_pre * n_post * p, np.sqrt(n_pre * n_post * p * (1 - p))
    assert np.all(np.abs(counts - mean) < 5 * sd), counts
    assert abs(counts.mean() - mean) < 5 * sd / np.sqrt(len(counts))
    per_input = np.diff(_draw(Bernoulli(p), 0, (n_pre, n_post)).pre_start)
    assert abs(per_input.mean() - n_post * p) < 1.0 and 2.5 < per_input.std() < 5.5
    assert _draw(Bernoulli(1.0)).n_synapses == N_PRE * N_POST


@pytest.mark.parametrize("name", sorted(RULES))
def test_the_same_seed_draws_the_same_synapses(name):
    first, again, other = _draw(RULES[name], 3), _draw(RULES[name], 3), _draw(RULES[name], 4)
    assert np.array_equal(first.pre_start, again.pre_start) and np.array_equal(first.post_index, again.post_index)
    assert not (np.array_equal(first.pre_start, other.pre_start) and np.array_equal(first.post_index, other.post_index))


def test_a_synapse_is_reproducible_from_its_seed():
    make = lambda seed: DenseSynapse("syn", (N_PRE, N_POST), connectivity=FixedInDegree(5), seed=seed)\
        .default_params()
    a, b, c = make(1), make(1), make(2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["post_index"], c["post_index"])


def test_explicit_pairs_are_sorted_and_multapses_add():
    pre, post = np.array([5, 1, 5, 1, 0]), np.array([3, 2, 3, 0, 7])          # (5, 3) twice
    connections = Explicit(pre, post).draw(N_PRE, N_POST, np.random.default_rng(0))
    assert _pairs(connections).tolist() == [[0, 7], [1, 0], [1, 2], [5, 3], [5, 3]]
    weights = np.array([1.0, 2.0, 3.0, 4.0, 8.0])
    assert _dense(connections, weights)[5, 3] == 12.0
    x = np.zeros((1, N_PRE), np.float32)
    x[0, 5] = 1.0
    out = np.asarray(csr_matmul(x, weights.astype(np.float32), connections.pre_start, connections.post_index,
                                n_out=N_POST))
    assert out[0, 3] == 12.0 and np.count_nonzero(out) == 1


@pytest.mark.parametrize("name", [*sorted(RULES), "explicit"])
def test_csr_matmul_equals_the_dense_product_of_the_pairs(name):
    rng = np.random.default_rng(11)
    if name == "explicit":
        pairs = rng.integers(0, [N_PRE, N_POST], size=(500, 2))          # 500 of 2400 pairs: many repeat
        connections = Explicit(pairs[:, 0], pairs[:, 1]).draw(N_PRE, N_POST, rng)
    else:
        connections = _draw(RULES[name])
    weights = rng.normal(size=connections.n_synapses).astype(np.float32)
    x = ((rng.random((3, N_PRE)) < 0.3) * rng.uniform(0.5, 2.0, (3, N_PRE))).astype(np.float32)
    out = np.asarray(csr_matmul(x, weights, connections.pre_start, connections.post_index, n_out=N_POST))
    expected = x.astype(np.float64) @ _dense(connections, weights.astype(np.float64))
    assert out.shape == (3, N_POST) and np.abs(expected).sum() > 0
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_a_sparse_synapse_transmits_what_the_dense_matrix_would():
    """The synapse's own product (transmit) is x @ W of its pairs, and its weights are one per synapse."""
    syn = DenseSynapse("syn", (N_PRE, N_POST), connectivity=Bernoulli(0.2), resist_scale=2.0, seed=4)
    params = syn.default_params()
    connections = from_pairs(*syn.synapse_pairs(), N_PRE)
    assert params["weights"].shape == (syn.n_synapses,) and syn.n_synapses == connections.n_synapses
    x = (np.random.default_rng(1).random((2, N_PRE)) < 0.4).astype(np.float32)
    out = np.asarray(syn.transmit({k: np.asarray(v, np.float32) if v.dtype.kind == "f" else v
                                   for k, v in params.items()}, x))
    np.testing.assert_allclose(out, x @ _dense(connections, params["weights"]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make, shape, message", [
    (lambda: FixedInDegree(11), (10, 5), r"FixedInDegree\(k=11\) needs at least k inputs, got n_in=10"),
    (lambda: FixedOutDegree(6), (10, 5), r"FixedOutDegree\(k=6\) needs at least k outputs, got n_out=5"),
    (lambda: FixedInDegree(0), None, r"FixedInDegree: the degree `k` must be a positive integer, got 0"),
    (lambda: FixedOutDegree(2.5), None, r"FixedOutDegree: the degree `k` must be a positive integer, got 2.5"),
    (lambda: Bernoulli(0.0), None, r"Bernoulli: `p` must be in \(0, 1\], got 0.0"),
    (lambda: Bernoulli(1.5), None, r"Bernoulli: `p` must be in \(0, 1\], got 1.5"),
    (lambda: Bernoulli(True), None, r"Bernoulli: `p` must be in \(0, 1\], got True"),
    (lambda: Explicit([0, 10], [1, 2]), (10, 5), r"Explicit: `pre` indices must be in \[0, 9\], got 0..10"),
    (lambda: Explicit([0, 1], [-1, 2]), (10, 5), r"Explicit: `post` indices must be in \[0, 4\], got -1..2"),
    (lambda: Explicit([0.5, 1], [1, 2]), (10, 5), r"Explicit: `pre` must be a 1-D sequence of integers"),
    (lambda: Explicit([0, 1, 2], [1, 2]), (10, 5), r"Explicit: `pre` and `post` must have equal lengths, got 3 and 2"),
])
def test_rules_refuse_what_they_cannot_draw(make, shape, message):
    with pytest.raises(ValueError, match=message):
        make().draw(*shape, np.random.default_rng(0))


def test_a_synapse_names_itself_when_its_rule_fails_or_draws_nothing():
    with pytest.raises(ValueError, match=r"In 'syn' \(DenseSynapse\): FixedInDegree\(k=11\) needs at least k inputs"):
        DenseSynapse("syn", (10, 5), connectivity=FixedInDegree(11))
    with pytest.raises(ValueError, match=r"In 'syn' \(ExponentialSynapse\): Explicit\(0 pairs\) drew no synapse for "
                                         r"shape \(10, 5\)"):
        ExponentialSynapse("syn", (10, 5), tau_decay=5.0, g_syn_bar=1.0, syn_rest=0.0,
                           connectivity=Explicit(np.zeros(0, int), np.zeros(0, int)))
    with pytest.raises(ValueError, match=r"`p_conn` and `mask` belong to the dense synapse"):
        DenseSynapse("syn", (10, 5), connectivity=Bernoulli(0.5), p_conn=0.5)


def test_changed_indices_are_checked():
    """Indices set by hand must be a valid CSR of the synapse's shape, in CSR order."""
    syn = DenseSynapse("syn", (N_PRE, N_POST), connectivity=FixedInDegree(4), seed=1)
    params = syn.default_params()
    swapped = params["post_index"].copy()
    row = int(np.flatnonzero(np.diff(params["pre_start"]) >= 2)[0])
    at = params["pre_start"][row]
    swapped[[at, at + 1]] = swapped[[at + 1, at]]
    cases = [({"post_index": swapped}, r"the synapses must be in CSR order, `post_index` ascending within each input's "
                                        r"synapses pre_start\[i\]:pre_start\[i \+ 1\]; synapse \d+ \(input \d+\) is not"),
             ({"post_index": np.full_like(swapped, N_POST)}, rf"`post_index` must be in \[0, {N_POST - 1}\]"),
             ({"pre_start": params["pre_start"][::-1].copy()}, r"`pre_start` must be \(n_in \+ 1,\) = \(61,\)"),
             ({"post_index": params["post_index"].astype(np.int64)}, r"`post_index` must be int32 synapse indices")]
    for change, message in cases:
        with pytest.raises(ValueError, match=r"In 'syn' \(DenseSynapse\): " + message):
            syn.validate_params({**params, **change})
