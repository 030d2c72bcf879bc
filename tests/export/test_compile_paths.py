"""Both compile paths (StableHLO importer, ONNX through TVM's frontend) on every component family,
through the full artifact (kernels, plan, C driver), and step.onnx in onnxruntime against JAX.
Synapse lists (int32 CSR indices as parameters) take the CSR kernel on the StableHLO path and
ONNX's Gather/ScatterElements/CumSum on the other."""
from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from cli_models import synapse_lists

from aotsnn.components.somas import (AdaptiveExponentialSoma, CoupledAdaptiveExponentialSoma, ExponentialSoma,
                                     RefractoryExponentialSoma, SimplifiedAdaptiveExponentialSoma)
from aotsnn.components.synapses import (AlphaSynapse, DenseSynapse, DoubleExpSynapse, ExponentialSynapse,
                                        STPDenseSynapse)
from aotsnn.demo import build_ei_network, demo_inputs
from aotsnn.export import compile_network
from aotsnn.network import Network
from aotsnn.runtime import load
from aotsnn.verify import compare

STEPS = 150


def zoo_network() -> Network:
    """One population of each soma class, wired by one synapse of each class (a ring)."""
    net = Network("zoo", dt=0.1, batch=2)
    every_mechanism = dict(cooldown=0.5, clamp_duration=0.3, threshold_delta=2.0, adaptation_delta=7.0)
    somas = {"exp": ExponentialSoma, "refr": RefractoryExponentialSoma,
             "adex": functools.partial(AdaptiveExponentialSoma, **every_mechanism),
             "sadex": SimplifiedAdaptiveExponentialSoma,
             "cadex": functools.partial(CoupledAdaptiveExponentialSoma, adaptation_delta=5.0, cooldown=0.3)}
    for name, cls in somas.items():
        net.add(cls(name, 6))
        net.add_input(f"drive_{name}", (6,))
        net.connect(f"drive_{name}", f"{name}.i")
    net.add_input("dendrite_cadex", (6,))               # stands in for a dendrite's coupling current
    net.connect("dendrite_cadex", "cadex.i_coupling")
    cond = dict(g_syn_bar=0.05, syn_rest=0.0, p_conn=0.5, is_nonplastic=False)
    synapses = [(DenseSynapse("dense", (6, 6), max_delay_steps=3, resist_scale=20.0, seed=1), "exp", "refr"),
                (ExponentialSynapse("expsyn", (6, 6), tau_decay=5.0, seed=2, **cond), "refr", "adex"),
                (AlphaSynapse("alpha", (6, 6), tau_decay=4.0, seed=3, **cond), "adex", "sadex"),
                (DoubleExpSynapse("dexp", (6, 6), tau_decay=6.0, tau_rise=1.0, integration="exact", seed=4, **cond),
                 "sadex", "exp"),
                (STPDenseSynapse("stp", (6, 6), resist_scale=30.0, seed=5), "exp", "adex")]
    for syn, pre, post in synapses:
        net.add(syn)
        ports = [p.name for p in syn.inputs]
        net.connect(f"{pre}.spikes", f"{syn.name}.{ports[0]}")
        if "v" in ports:
            net.connect(f"{post}.v", f"{syn.name}.v")
        net.connect(f"{syn.name}.{syn.outputs[0].name}", f"{post}.i")
    net.record(*(f"{name}.spikes" for name in somas))
    return net


NETWORKS = {"ei": lambda: build_ei_network(n_exc=24, n_inh=6, p_conn=0.3), "zoo": zoo_network,
            "lists": synapse_lists}


@pytest.fixture(scope="module", params=sorted(NETWORKS))
def compiled(request, tmp_path_factory):
    net = NETWORKS[request.param]()
    inputs = {k: v.astype(np.float32) for k, v in demo_inputs(net, STEPS, seed=11, mean=80.0, std=60.0).items()}
    paths = {p: compile_network(net, tmp_path_factory.mktemp(p) / f"{net.name}.aot", compile_path=p, use_cache=False)
             for p in ("stablehlo", "onnx")}
    return net, inputs, paths


def test_both_paths_give_the_same_results(compiled):
    net, inputs, paths = compiled
    runs = {}
    for path, artifact in paths.items():
        manifest = json.loads((artifact / "manifest.json").read_text())
        assert manifest["compile_path"] == path and "step.onnx" in manifest["files"]
        session = load(artifact)
        runs[path] = session.run(session.init_state(), inputs)
    (state_a, out_a), (state_b, out_b) = runs["stablehlo"], runs["onnx"]
    assert sum(v.sum() for v in out_a.values()) > 0, "the network must spike to test anything"
    for name in out_a:
        np.testing.assert_array_equal(out_a[name], out_b[name], err_msg=name)
    for name in state_a:
        np.testing.assert_allclose(state_a[name], state_b[name], rtol=1e-5, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("path", ["stablehlo", "onnx"])
def test_artifact_and_onnxruntime_match_jax(compiled, path):
    net, inputs, paths = compiled
    report = compare(load(paths[path]), net, inputs)
    assert report.passed, report.failures()
    assert all(s.identical for s in report.free_run), report.free_run
    assert report.onnxruntime is not None and len(report.onnxruntime) == len(report.one_step)
    assert report.onnxruntime_passed, [e for e in report.onnxruntime if not e.within_tolerance or e.spike_mismatches]


def test_unknown_compile_path_is_refused(tmp_path):
    with pytest.raises(ValueError, match="`compile_path` must be one of"):
        compile_network(build_ei_network(n_exc=8, n_inh=2), tmp_path / "x.aot", compile_path="tflite")


@pytest.mark.parametrize("target", ["opencl", "cuda"])
def test_synapse_lists_on_a_gpu_target_refuse_the_onnx_path_by_name(target, tmp_path):
    """TVM's GPU schedules cannot take the ONNX path's Gather/ScatterElements/CumSum: the compile
    is refused naming the synapse and what to do, before any kernel is built."""
    from aotsnn.export import ExportError
    from aotsnn.targets import get

    ok, why = get(target).builds_here()
    if not ok:
        pytest.skip(why)
    with pytest.raises(ExportError, match=rf"In 'syn' \(ExponentialSynapse\): a synapse list \(connectivity=, int32 "
                                          rf"indices 'syn.pre_start', 'syn.post_index'\) compiles for '{target}' "
                                          r"through StableHLO only.*drop compile_path='onnx'"):
        compile_network(synapse_lists(), tmp_path / "lists.aot", target=target, compile_path="onnx")
