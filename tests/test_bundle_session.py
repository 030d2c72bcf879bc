"""A C bundle's session is a full session: the interface of the host Session, its checks and
messages, saved states that round-trip bit for bit and resume a run exactly, and clear refusals
of what a bundle cannot do (threads, a live stepper). Run for `c` (native) and `cortex-m`
(qemu-system-arm: one small network, few steps); a target this machine lacks is skipped.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from cli_models import synapse_lists

from aotsnn.cli import main
from aotsnn.demo import demo_inputs
from aotsnn.export import compile_network
from aotsnn.runtime import ArtifactError, Session
from aotsnn.runtime.harness import HarnessSession, load_any

STEPS = 60          # the network spikes in both halves at this drive (mean 120)


@pytest.fixture(scope="module", params=["c", "cortex-m"])
def bundle(request, small_net, tmp_path_factory) -> Path:
    """The small network as a C bundle of each target (the compile cache makes a rebuild cheap)."""
    from aotsnn.targets import get

    ok, why = get(request.param).runs_here()
    if not ok:
        pytest.skip(why)
    return compile_network(small_net, tmp_path_factory.mktemp(request.param) / "small.aot", target=request.param)


@pytest.fixture()
def bundle_session(bundle) -> HarnessSession:
    return load_any(bundle)


@pytest.fixture(scope="module")
def drive(small_net) -> dict[str, np.ndarray]:
    return {k: v.astype(np.float32) for k, v in demo_inputs(small_net, STEPS, seed=11, mean=120.0).items()}


def _halves(inputs: dict[str, np.ndarray]) -> tuple[dict, dict]:
    return ({k: v[:STEPS // 2] for k, v in inputs.items()}, {k: v[STEPS // 2:] for k, v in inputs.items()})


def _assert_bit_equal(got: dict, expected: dict, what: str) -> None:
    assert sorted(got) == sorted(expected), what
    for name in expected:
        assert got[name].dtype == expected[name].dtype and got[name].shape == expected[name].shape, f"{what}: {name}"
        assert got[name].tobytes() == expected[name].tobytes(), f"{what}: '{name}' differs"


def test_the_bundle_session_has_the_host_sessions_interface():
    public = {name for name in dir(Session) if not name.startswith("_")}
    assert public - set(dir(HarnessSession)) == set()


def test_save_and_load_round_trip_bit_exactly(bundle_session, drive, tmp_path):
    state, _ = bundle_session.run(bundle_session.init_state(), drive)
    leaf = next(iter(state))
    odd = state[leaf].copy()
    odd.flat[:4] = [np.nan, -0.0, np.inf, np.float32(1e-45)]     # a state is stored as it is, NaN included
    state = {**state, leaf: odd}
    bundle_session.save_state(state, tmp_path / "s.npz")
    _assert_bit_equal(bundle_session.load_state(tmp_path / "s.npz"), state, "loaded state")


def test_a_failed_save_keeps_the_old_file(bundle_session, tmp_path, monkeypatch):
    path = tmp_path / "s.npz"
    bundle_session.save_state(bundle_session.init_state(), path)
    before = path.read_bytes()

    def crash(*args):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        bundle_session.save_state({k: v + 1 for k, v in bundle_session.init_state().items()}, path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["s.npz"]


def test_a_run_resumed_from_a_saved_state_equals_an_uninterrupted_run(bundle_session, drive, tmp_path):
    state0 = bundle_session.init_state()
    final, outputs = bundle_session.run(state0, drive)
    assert sum(v.sum() for v in outputs.values()) > 0, "the network must spike to test anything"
    first, second = _halves(drive)
    mid, out_a = bundle_session.run(state0, first)
    bundle_session.save_state(mid, tmp_path / "mid.npz")
    resumed = load_any(bundle_session.artifact.path)            # a new session, as after a restart
    end, out_b = resumed.run(resumed.load_state(tmp_path / "mid.npz"), second)
    assert all(v[STEPS // 2:].sum() > 0 for v in outputs.values()), "both halves must spike"
    _assert_bit_equal(end, final, "resumed state")
    _assert_bit_equal({k: np.concatenate([out_a[k], out_b[k]]) for k in out_a}, outputs, "resumed outputs")


def test_a_state_of_another_file_is_refused(bundle_session, tmp_path):
    np.savez(tmp_path / "bare.npz", **bundle_session.init_state())        # no model key
    with pytest.raises(ArtifactError, match=r"bare\.npz is not a saved state of this artifact \('ei_demo'\)\."):
        bundle_session.load_state(tmp_path / "bare.npz")


def test_checks_and_refusals_match_the_host_session(bundle_session, session, drive):
    """set_params refusals (range, shape, NaN, topology, unknown) and run's state checks say what the
    host Session says, and a refused set_params changes nothing."""
    before = bundle_session.params
    bad_params = [{"exc.potential_tau": -1.0}, {"ee.weights": np.zeros((3, 3))}, {"ee.weights": np.nan},
                  {"ee.mask": 0.0}, {"exc.no_such_leaf": 1.0}, {"exc.potential_tau": 8.0, "exc.threshold": "high"}]
    for values in bad_params:
        with pytest.raises((ValueError, TypeError)) as host:
            session.set_params(**values)
        with pytest.raises(type(host.value), match=None) as ours:
            bundle_session.set_params(**values)
        assert str(ours.value) == str(host.value), values
    _assert_bit_equal(bundle_session.params, before, "params after refusals")
    nan_state = {k: np.full_like(v, np.nan) for k, v in bundle_session.init_state().items()}
    wrong_dtype = {k: v.astype(np.float64) for k, v in bundle_session.init_state().items()}
    for state in (nan_state, wrong_dtype, None):
        with pytest.raises((ValueError, TypeError)) as host:
            session.run(state, drive)
        with pytest.raises(type(host.value)) as ours:
            bundle_session.run(state, drive)
        assert str(ours.value) == str(host.value)


def test_threads_and_the_stepper_are_refused_with_the_reason(bundle_session, bundle):
    target = bundle_session.target.name
    assert bundle_session.threads == 1
    with pytest.raises(ArtifactError, match=rf"is a '{target}' C bundle: its kernels run in one thread \(no thread "
                                            r"pool\), so `threads` cannot be set"):
        bundle_session.threads = 2
    with pytest.raises(ValueError, match=r"`threads` must be an integer >= 1, got 0\."):
        bundle_session.threads = 0
    with pytest.raises(ArtifactError, match=rf"is a '{target}' C bundle: it has no live stepper"):
        bundle_session.stepper()


def test_the_cli_saves_a_state_and_resumes_from_it(bundle, drive, tmp_path, capsys):
    first, second = _halves(drive)
    for name, tree in (("all", drive), ("first", first), ("second", second)):
        np.savez(tmp_path / f"{name}.npz", **tree)
    run = lambda *args: main(["run", str(bundle), "--quiet", *map(str, args)])
    assert run("--inputs", tmp_path / "all.npz", "--save-state", tmp_path / "end.npz") == 0
    assert run("--inputs", tmp_path / "first.npz", "--save-state", tmp_path / "mid.npz") == 0
    assert run("--inputs", tmp_path / "second.npz", "--state", tmp_path / "mid.npz",
               "--save-state", tmp_path / "resumed.npz") == 0
    assert f"state saved to {tmp_path / 'resumed.npz'}" in capsys.readouterr().out
    session = load_any(bundle)
    end, resumed = session.load_state(tmp_path / "end.npz"), session.load_state(tmp_path / "resumed.npz")
    assert not all(np.array_equal(end[k], session.init_state()[k]) for k in end), "the run must change the state"
    _assert_bit_equal(resumed, end, "state resumed by the CLI")


def test_a_sparse_network_stores_only_its_connections_and_takes_new_weights(tmp_path):
    """At 10% connectivity the CSR kernels read W and the mask only at the mask's non-zeros, so the
    bundle stores W packed (its non-zeros) and the mask not at all; set_params still takes the
    dense matrix and the run equals the host artifact's with the same new weights."""
    from aotsnn.demo import build_ei_network
    from aotsnn.runtime import load
    from aotsnn.targets import get

    ok, why = get("c").runs_here()
    if not ok:
        pytest.skip(why)
    net = build_ei_network(n_exc=120, n_inh=30, p_conn=0.1)
    bundle = load_any(compile_network(net, tmp_path / "sparse-c.aot", target="c"))
    host = load(compile_network(net, tmp_path / "sparse-host.aot"))
    storage = bundle.artifact.manifest["build"]["param_storage"]
    nnz = int(np.count_nonzero(net.params["ee.mask"]))
    assert storage["ee.weights"] == {"storage": "packed", "size": nnz, "mask": "ee.mask"}
    assert storage["ee.mask"]["storage"] == "compiled" and storage["exc.potential_tau"]["storage"] == "dense"
    header = (bundle.artifact.path / "c" / "ei_demo.h").read_text()
    assert f"#define EI_DEMO_PARAMS_EE_WEIGHTS_SIZE {nnz}" in header and "EI_DEMO_PARAMS_EE_MASK_SIZE 0" in header
    inputs = {k: v.astype(np.float32) for k, v in demo_inputs(net, 40, seed=3, mean=120.0).items()}
    heavier = {"ee.weights": np.asarray(net.params["ee.weights"]) * 3.0, "ie.weights": np.zeros((30, 120))}
    for session in (bundle, host):
        session.set_params(**heavier)
    (state_c, out_c), (state_h, out_h) = (s.run(s.init_state(), inputs) for s in (bundle, host))
    for name in out_h:
        assert np.array_equal(out_c[name], out_h[name]), name
    assert np.any(out_h["exc.spikes"]) and not np.array_equal(
        out_h["exc.spikes"], load(host.artifact.path).run(host.init_state(), inputs)[1]["exc.spikes"])
    assert max(np.max(np.abs(state_c[k] - state_h[k])) for k in state_h) < 1e-3


USER_OF_LISTS = r"""
#include <stdio.h>
#include "lists.h"
static lists_state s;
int main(void) {
  static const lists_param_t any[1] = {0.0f};
  lists_init(&s);
  int rc = lists_set_param(&s, LISTS_PARAM_SYN_POST_INDEX, any);
  printf("%d %d %d %d %s\n", rc, LISTS_PARAMS_SYN_POST_INDEX_SIZE, LISTS_PARAMS_SYN_WEIGHTS_SIZE,
         (int)lists_indices_syn_post_index[1], lists_last_error());
  return 0;
}
"""


def test_synapse_lists_compile_their_indices_in_and_take_new_weights(tmp_path):
    """A synapse list's int32 CSR indices are topology: the bundle compiles them in as `const
    int32_t` arrays of their own, outside the float parameter table (nothing in params.bin,
    _SIZE 0), and refuses to change them in Python and in C; its per-synapse weights are
    parameters like any other, and a run with new weights equals the host artifact's."""
    import subprocess

    from aotsnn.runtime import load
    from aotsnn.targets import get

    ok, why = get("c").runs_here()
    if not ok:
        pytest.skip(why)
    net = synapse_lists()
    bundle = load_any(compile_network(net, tmp_path / "lists-c.aot", target="c"))
    host = load(compile_network(net, tmp_path / "lists-host.aot"))
    n_syn, post_index = 15 * 4, np.asarray(net.params["syn.post_index"])
    storage = bundle.artifact.manifest["build"]["param_storage"]
    assert storage["syn.post_index"] == {"storage": "indices", "size": n_syn, "mask": None}
    assert storage["syn.pre_start"] == {"storage": "indices", "size": 21, "mask": None}
    assert storage["syn.weights"] == {"storage": "dense", "size": n_syn, "mask": None}
    c = bundle.artifact.path / "c"
    assert "extern const int32_t lists_indices_syn_pre_start[21];" in (c / "lists.h").read_text()
    assert (f"const int32_t lists_indices_syn_post_index[{n_syn}] = {{{', '.join(map(str, post_index))}}};"
            in (c / "lists_data.c").read_text())
    (tmp_path / "user.c").write_text(USER_OF_LISTS)
    built = subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{c}", str(tmp_path / "user.c"),
                            str(c / "liblists.a"), "-lm", "-o", str(tmp_path / "user")], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    rc, size, weights, second, *error = subprocess.run([str(tmp_path / "user")], capture_output=True, text=True,
                                                       check=True).stdout.split()
    assert (int(rc), int(size), int(weights), int(second)) == (-1, 0, n_syn, post_index[1])
    assert "parameter 'syn.post_index' is topology" in " ".join(error)
    for session in (bundle, host):
        with pytest.raises(ValueError, match=r"parameter 'syn.post_index' is topology"):
            session.set_params(**{"syn.post_index": post_index[::-1].copy()})
        session.set_params(**{"syn.weights": np.asarray(net.params["syn.weights"]) * 3.0})
    inputs = {k: v.astype(np.float32) for k, v in demo_inputs(net, STEPS, seed=3, mean=120.0).items()}
    (state_c, out_c), (state_h, out_h) = (s.run(s.init_state(), inputs) for s in (bundle, host))
    assert out_h["post.spikes"].sum() > 0 and not np.array_equal(
        out_h["post.spikes"], load(host.artifact.path).run(host.init_state(), inputs)[1]["post.spikes"])
    for name in out_h:
        assert np.array_equal(out_c[name], out_h[name]), name
    assert max(np.max(np.abs(state_c[k] - state_h[k])) for k in state_h) < 1e-3


def test_a_new_draw_of_the_synapses_reuses_the_bundles_kernels(tmp_path, monkeypatch):
    """The indices are run-time arguments of the kernels: other synapses of the same count compile
    from the kernel cache, and only the bundle's data changes."""
    from aotsnn.components.connectivity import FixedInDegree
    from aotsnn.targets import get

    ok, why = get("c").runs_here()
    if not ok:
        pytest.skip(why)
    monkeypatch.setenv("AOTSNN_CACHE", str(tmp_path / "cache"))
    first, redrawn = synapse_lists(), synapse_lists()
    other = FixedInDegree(4).draw(20, 15, np.random.default_rng(99))
    redrawn.set_params(**{"syn.pre_start": other.pre_start, "syn.post_index": other.post_index})
    paths = [compile_network(net, tmp_path / f"{i}.aot", target="c") for i, net in enumerate((first, redrawn))]
    builds = [load_any(path).artifact.manifest["build"] for path in paths]
    assert [build["cache_hit"] for build in builds] == [False, True]
    kernels, data = ([(path / "c" / f"lists{suffix}.c").read_text() for path in paths] for suffix in ("_kernels", "_data"))
    assert kernels[0] == kernels[1] and data[0] != data[1]
    assert f"{{{', '.join(map(str, other.post_index))}}}" in data[1]


def test_info_shows_what_the_bundle_takes_on_the_device(bundle, capsys):
    assert main(["info", str(bundle)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    build = load_any(bundle).artifact.manifest["build"]
    lib = build["sizes"]["libei_demo.a"]
    assert f"flash      {(lib['text'] + lib['data']) / 1024:.1f} KiB" in lines["flash"]
    stored = sum(v["size"] for v in build["param_storage"].values())
    assert lines["stored"].startswith(f"stored     {stored} parameter values")
