"""Run-time speed-ups must not change results: threads in the kernels' parallel loops, and the
results of the parameter-only kernels kept in the workspace between calls until set_params."""
from __future__ import annotations

import os

import numpy as np
import pytest

from aotsnn.components.somas import ExponentialSoma
from aotsnn.demo import build_ei_network, demo_inputs
from aotsnn.export import compile_network
from aotsnn.export.kernels.cpu_schedules import PARALLEL_MIN_ELEMENTS
from aotsnn.network import Network
from aotsnn.runtime import load
from test_export_runtime import jax_run


def _threads_of_this_process() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.fixture(scope="module")
def sparse(tmp_path_factory):
    """A network whose connection masks are sparse enough for CSR: the weight gathers are hoisted."""
    net = build_ei_network(n_exc=80, n_inh=20, p_conn=0.05)
    path = compile_network(net, tmp_path_factory.mktemp("sparse") / "sparse.aot")
    assert "csr_gather" in (path / "driver.c").read_text()
    inputs = {k: v.astype(np.float32) for k, v in demo_inputs(net, 120, seed=3).items()}
    return net, path, inputs


def test_parameter_only_results_are_recomputed_after_set_params(sparse):
    net, path, inputs = sparse
    session = load(path)
    state = session.init_state()
    _, first = session.run(state, inputs)
    _, again = session.run(state, inputs)
    for name in first:
        np.testing.assert_array_equal(again[name], first[name])
    weights = {"ee.weights": net.params["ee.weights"] * 3.0, "ie.weights": net.params["ie.weights"] * 0.2}
    session.set_params(**weights)
    _, changed = session.run(state, inputs)
    _, reference = jax_run(net, {**net.params, **weights}, net.init_state(), inputs)
    assert not np.array_equal(changed["exc.spikes"], first["exc.spikes"])
    np.testing.assert_array_equal(changed["exc.spikes"], reference["exc.spikes"])
    fresh = load(path)
    fresh.set_params(**weights)
    _, from_fresh = fresh.run(state, inputs)
    for name in changed:
        np.testing.assert_array_equal(from_fresh[name], changed[name])


def test_a_call_without_refresh_reuses_the_workspace(sparse):
    """The driver honours `refresh`: with it off, the gathered weights are whatever the workspace
    holds (zeros here, after it was cleared), so the synapses carry nothing."""
    _, path, inputs = sparse
    session = load(path)
    state = session.init_state()
    _, with_weights = session.run(state, inputs)
    session._workspace[:] = 0          # the gathered weights (and every temp) forgotten
    session._derived_stale = False     # and not recomputed
    _, without = session.run(state, inputs)
    assert not np.array_equal(with_weights["exc.spikes"], without["exc.spikes"])


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through Linux /proc")
def test_threads_do_not_change_a_bit(tmp_path):
    n = 2 * PARALLEL_MIN_ELEMENTS
    net = Network("wide", dt=0.1)
    net.add_input("drive", (n,))
    net.add(ExponentialSoma("pop", n))
    net.connect("drive", "pop.i")
    net.record("pop.spikes")
    path = compile_network(net, tmp_path / "wide.aot")
    rng = np.random.default_rng(0)
    inputs = {"drive": rng.normal(400.0, 300.0, size=(100, 1, n)).astype(np.float32)}
    session = load(path, threads=1)
    runs = {}
    for threads in (1, 2, 3):
        session.threads = threads
        assert session.threads == threads
        before = _threads_of_this_process()
        runs[threads] = session.run(session.init_state(), inputs)
        if threads > 1:        # the soma kernel is parallel at this size: the pool started its workers
            assert _threads_of_this_process() >= before + threads - 1
    assert runs[1][1]["pop.spikes"].sum() > 0
    for threads in (2, 3):
        for part in (0, 1):
            for name, value in runs[1][part].items():
                np.testing.assert_array_equal(runs[threads][part][name], value, err_msg=f"{threads} threads: {name}")
    with pytest.raises(ValueError, match="`threads` must be an integer >= 1"):
        session.threads = 0


def test_large_finite_inputs_are_not_mistaken_for_inf(session, small_inputs):
    """The finiteness check sums first (one pass); a sum that overflows must not refuse finite values."""
    huge = {k: np.full_like(v, 3e38) for k, v in small_inputs.items()}
    session.run(session.init_state(), huge)          # finite, although their sum is not
    nan = {**huge, "drive_exc": np.where(np.arange(huge["drive_exc"].size).reshape(huge["drive_exc"].shape) == 7,
                                         np.float32(np.nan), huge["drive_exc"])}
    with pytest.raises(ValueError, match="'drive_exc' contains NaN or Inf"):
        session.run(session.init_state(), nan)


def test_vectorize_rule_leaves_a_unit_extent_reduction_alone():
    """A batched outer product (a reduction of extent 1, e.g. a per-sample plastic synapse's
    Hebbian product) looks injective to dlight once its unit loop is normalised away; inlining the
    update into it read the output as the accumulator (the weights came out doubled). The rule
    must refuse it and still take the same arithmetic written without the reduction."""
    from tvm import te

    from aotsnn.export.kernels.cpu_schedules import fused_output_loops

    a, b = te.placeholder((4, 100, 1), name="a"), te.placeholder((4, 1, 50), name="b")
    k = te.reduce_axis((0, 1), name="k")
    product = te.compute((4, 100, 50), lambda n, i, j: te.sum(a[n, i, k] * b[n, k, j], axis=k), name="product")
    update = te.compute((4, 100, 50), lambda n, i, j: product[n, i, j] * 2.0 + 1.0, name="update")
    assert fused_output_loops(te.create_prim_func([a, b, update])) is None
    direct = te.compute((4, 100, 50), lambda n, i, j: a[n, i, 0] * b[n, 0, j] * 2.0 + 1.0, name="direct")
    assert fused_output_loops(te.create_prim_func([a, b, direct])) is not None


@pytest.mark.parametrize("shape", [(100, 50), (4, 100, 60), (3, 7), (64, 48)])
def test_vectorize_rule_keeps_vectors_inside_rows(shape):
    """Rows of the last axis that are not a multiple of the vector width are vectorised row by row
    (whole vectors of 16, then a vector tail), never as vectors across rows (gathers) or with masks
    (scalarised); rows that are a multiple stay one fused loop. Every element equals numpy."""
    import tvm
    from tvm import te, topi

    from aotsnn.export.kernels.fusion import schedule
    from aotsnn.export.kernels.native_cpu import specialise
    from aotsnn.targets import get

    target = tvm.target.Target(specialise(get("host"))[0])
    a, b = te.placeholder(shape, name="a"), te.placeholder(shape[-1:], name="b")
    scheduled = list(schedule(tvm.IRModule({"main": te.create_prim_func([a, b, topi.maximum(topi.multiply(a, b), a)])}),
                              target).functions.values())[0]
    text = scheduled.script()
    assert "T.where" not in text and "T.vectorized" in text
    assert ("_partition" in text) == (shape[-1] % 16 != 0)        # rows split into whole vectors and the rest
    run = tvm.compile(tvm.IRModule({"main": scheduled.with_attr("global_symbol", "main")}), target=target)["main"]
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=shape).astype(np.float32), rng.normal(size=shape[-1:]).astype(np.float32)
    out = tvm.runtime.tensor(np.zeros(shape, np.float32))
    run(tvm.runtime.tensor(x), tvm.runtime.tensor(y), out)
    np.testing.assert_array_equal(out.numpy(), np.maximum(x * y, x))
