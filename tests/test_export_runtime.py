"""The spine end to end: compile on the host, run with the thin runtime, compare with JAX."""
import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from aotsnn.export import compile_network
from aotsnn.runtime import ArtifactError, load


def jax_run(net, params, state, inputs):
    f = jax.jit(lambda p, s, x: net.run(s, x, p))
    cast = lambda t: {k: jnp.asarray(v, jnp.float32) for k, v in t.items()}
    final, out = f(cast(params), cast(state), cast(inputs))
    return {k: np.asarray(v) for k, v in final.items()}, {k: np.asarray(v) for k, v in out.items()}


def test_artifact_matches_jax_float32(session, small_net, small_inputs):
    state, out = session.run(session.init_state(), small_inputs)
    ref_state, ref_out = jax_run(small_net, small_net.params, small_net.init_state(), small_inputs)
    assert out["exc.spikes"].sum() > 0, "the test network must spike to test anything"
    for name in out:
        np.testing.assert_array_equal(out[name], ref_out[name], err_msg=name)
    for name in state:
        np.testing.assert_allclose(state[name], ref_state[name], rtol=1e-4, atol=1e-3, err_msg=name)


def test_step_equals_run_and_resume_is_bit_exact(session, small_inputs):
    full_state, full_out = session.run(session.init_state(), small_inputs)
    half = {k: v[:80] for k, v in small_inputs.items()}
    rest = {k: v[80:] for k, v in small_inputs.items()}
    mid, out1 = session.run(session.init_state(), half)
    end, out2 = session.run(mid, rest)
    for name in full_state:
        np.testing.assert_array_equal(end[name], full_state[name])
    np.testing.assert_array_equal(np.concatenate([out1["exc.spikes"], out2["exc.spikes"]]), full_out["exc.spikes"])
    state = session.init_state()
    for t in range(5):
        state, out = session.step(state, {k: v[t] for k, v in small_inputs.items()})
        np.testing.assert_array_equal(out["exc.spikes"], full_out["exc.spikes"][t])


def test_run_does_not_modify_the_callers_state(session, small_inputs):
    state = session.init_state()
    before = {k: v.copy() for k, v in state.items()}
    session.run(state, small_inputs)
    for k in state:
        np.testing.assert_array_equal(state[k], before[k])


def test_save_load_state_round_trips_exactly(session, small_inputs, tmp_path):
    state, _ = session.run(session.init_state(), small_inputs)
    session.save_state(state, tmp_path / "ckpt.npz")
    loaded = session.load_state(tmp_path / "ckpt.npz")
    for k in state:
        assert loaded[k].dtype == state[k].dtype
        np.testing.assert_array_equal(loaded[k], state[k])
    a, _ = session.run(state, small_inputs)
    b, _ = session.run(loaded, small_inputs)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_parameters_change_without_recompiling(small_net, small_artifact, small_inputs):
    session = load(small_artifact)
    base_state, base_out = session.run(session.init_state(), small_inputs)
    session.set_params(**{"exc.potential_tau": 8.0, "ee.g_syn_bar": 0.0})
    state, out = session.run(session.init_state(), small_inputs)
    assert not np.array_equal(out["exc.spikes"], base_out["exc.spikes"])
    params = {**small_net.params, "exc.potential_tau": np.asarray(8.0), "ee.g_syn_bar": np.asarray(0.0)}
    _, ref_out = jax_run(small_net, params, small_net.init_state(), small_inputs)
    np.testing.assert_array_equal(out["exc.spikes"], ref_out["exc.spikes"])


def test_recompile_is_a_cache_hit(small_net, tmp_path, monkeypatch):
    monkeypatch.setenv("AOTSNN_CACHE", str(tmp_path / "cache"))
    first = compile_network(small_net, tmp_path / "a.aot")
    second = compile_network(small_net, tmp_path / "b.aot")
    facts = lambda p: json.loads((p / "manifest.json").read_text())["build"]
    assert facts(first)["cache_hit"] is False and facts(second)["cache_hit"] is True


@pytest.mark.parametrize("mutate,message", [
    (lambda x: {**x, "drive_exc": x["drive_exc"][:, :, :5]}, "'drive_exc' must have shape"),
    (lambda x: {**x, "drive_exc": x["drive_exc"].astype(np.float64)}, "'drive_exc' must have dtype float32"),
    (lambda x: {"drive_exc": x["drive_exc"]}, "missing drive_inh"),
    (lambda x: {**x, "extra": x["drive_exc"]}, "unknown extra"),
    (lambda x: {**x, "drive_inh": x["drive_inh"][:10]}, "'drive_inh' must have shape \\(200,"),
])
def test_bad_inputs_name_the_input(session, small_inputs, mutate, message):
    with pytest.raises((ValueError, TypeError), match=message):
        session.run(session.init_state(), mutate(small_inputs))


def test_nan_inputs_are_refused(session, small_inputs):
    bad = {k: v.copy() for k, v in small_inputs.items()}
    bad["drive_inh"][3, 0, 2] = np.nan
    with pytest.raises(ValueError, match="'drive_inh' contains NaN"):
        session.run(session.init_state(), bad)


def test_bad_parameters_are_refused(session):
    with pytest.raises(ValueError, match="'exc.potential_tau' must be > 0"):
        session.set_params(**{"exc.potential_tau": -5.0})
    with pytest.raises(ValueError, match="'ee.weights' must have shape"):
        session.set_params(**{"ee.weights": np.zeros((3, 3))})
    with pytest.raises(ValueError, match="no parameter 'nope'"):
        session.set_params(nope=1.0)


def test_bad_state_is_refused(session):
    state = session.init_state()
    state["exc.v_rel"] = state["exc.v_rel"][:, :3]
    with pytest.raises(ValueError, match="'exc.v_rel' must have shape"):
        session.run(state, {}, steps=1) if False else session.step(state, {k: np.zeros(s, np.float32) for k, s in session.layout["inputs"]})


@pytest.fixture()
def artifact_copy(small_artifact, tmp_path):
    path = tmp_path / "copy.aot"
    shutil.copytree(small_artifact, path)
    return path


def test_corrupt_library_is_refused(artifact_copy):
    data = bytearray((artifact_copy / "model.so").read_bytes())
    data[len(data) // 2] ^= 0x01
    (artifact_copy / "model.so").write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="model.so does not match its hash"):
        load(artifact_copy)


def test_truncated_state_file_is_refused(artifact_copy):
    (artifact_copy / "state.npz").write_bytes((artifact_copy / "state.npz").read_bytes()[:50])
    with pytest.raises(ArtifactError, match="state.npz"):
        load(artifact_copy)


@pytest.mark.parametrize("edit,message", [
    (lambda m: {**m, "format_version": 99}, "format version 99"),
    (lambda m: {**m, "target": {**m["target"], "machine": "riscv64"}}, "built for 'host' \\(riscv64\\)"),
    (lambda m: {k: v for k, v in m.items() if k != "layout"}, "missing layout"),
])
def test_manifest_problems_are_refused(artifact_copy, edit, message):
    manifest = json.loads((artifact_copy / "manifest.json").read_text())
    (artifact_copy / "manifest.json").write_text(json.dumps(edit(manifest)))
    with pytest.raises(ArtifactError, match=message):
        load(artifact_copy)


def test_garbled_manifest_is_refused(artifact_copy):
    (artifact_copy / "manifest.json").write_text("{ not json")
    with pytest.raises(ArtifactError, match="corrupt"):
        load(artifact_copy)


def test_unknown_target_is_refused(small_net, tmp_path):
    with pytest.raises(ValueError, match="unknown target 'gpu9000'"):
        compile_network(small_net, tmp_path / "x.aot", target="gpu9000")


def test_runtime_needs_neither_jax_nor_tvm(small_artifact, run_without_compiler):
    run_without_compiler("aotsnn.runtime:load", small_artifact)


def test_sparse_connectivity_uses_csr_kernels_and_matches_jax(tmp_path):
    from aotsnn.demo import build_ei_network, demo_inputs

    net = build_ei_network(n_exc=80, n_inh=20, p_conn=0.05)        # sparse: CSR kernels
    path = compile_network(net, tmp_path / "sparse.aot")
    assert "csr_scatter" in (path / "driver.c").read_text()
    session = load(path)
    inputs = {k: v.astype(np.float32) for k, v in demo_inputs(net, 300, seed=7).items()}
    _, out = session.run(session.init_state(), inputs)
    _, ref_out = jax_run(net, net.params, net.init_state(), inputs)
    assert out["exc.spikes"].sum() > 0
    for name in out:
        np.testing.assert_array_equal(out[name], ref_out[name], err_msg=name)
    # topology is fixed at compile time: the same mask is accepted, another one refused
    session.set_params(**{"ee.mask": net.params["ee.mask"]})
    with pytest.raises(ValueError, match="'ee.mask' is topology"):
        session.set_params(**{"ee.mask": np.ones((80, 80))})


def test_kernel_choice_follows_each_masks_density(small_net, small_artifact):
    source = (small_artifact / "driver.c").read_text()
    for name in ("ee", "ei", "ie", "ii"):
        mask = small_net.params[f"{name}.mask"]
        k, n = mask.shape
        sparse = np.count_nonzero(mask) <= 0.25 * mask.size
        assert (f"csr_scatter_1x{k}x{n}_{np.count_nonzero(mask)}_" in source) == sparse, name
        assert (f"event_matmul_1x{k}x{n}_" in source) == (not sparse), name


def test_unused_state_keeps_its_place_in_the_layout(tmp_path):
    """A current-based synapse never reads the wired-in `v`: its carried leaf is unused by the step,
    and must still be an argument (jax.jit drops unused arguments unless told not to)."""
    from aotsnn.workloads import feedforward_network, poisson_inputs

    net = feedforward_network((30, 20, 5), ff_mean=60.0, ff_std=60.0)
    session = load(compile_network(net, tmp_path / "ff.aot"))
    inputs = {k: v.astype(np.float32) for k, v in poisson_inputs(net, 200, rate_hz=200.0).items()}
    _, out = session.run(session.init_state(), inputs)
    _, ref_out = jax_run(net, net.params, net.init_state(), inputs)
    assert out["l0.spikes"].sum() > 0
    for name in out:
        np.testing.assert_array_equal(out[name], ref_out[name], err_msg=name)
