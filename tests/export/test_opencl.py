"""The opencl target: one set of GPU schedules with cuda, exact constants, device choice, the
driver's state and parameter handling on a real OpenCL device (PoCL in CI), the build log in
the error, and the aarch64 cross-compile of the driver.

The conformance matrix (tests/test_conformance.py) runs every network on opencl through the
`target` fixture; here are the properties that are the opencl driver's own.
"""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import tvm
import tvm_ffi

from aotsnn.demo import build_ei_network, demo_inputs
from aotsnn.export.codegen import opencl_driver
from aotsnn.export.codegen.opencl_driver import exact_float_constants, short_names
from aotsnn.runtime import opencl as probe
from aotsnn.runtime.format import ArtifactError
from aotsnn.targets import get

RUNS, NO_DEVICE_REASON = get("opencl").runs_here()
BUILDS, NO_BUILD_REASON = get("opencl").builds_here()
needs_device = pytest.mark.skipif(not RUNS, reason=NO_DEVICE_REASON or "no OpenCL device")


def _kernels_of(net, kind: str):
    """(plan, GpuKernels) of `net` for the GPU target kind `kind`, without a compiler or device."""
    from aotsnn.export.artifact.publish import topology_hashes
    from aotsnn.export.frontend.lower import lower
    from aotsnn.export.frontend.to_relax import import_stablehlo
    from aotsnn.export.kernels.fusion import plan_kernels
    from aotsnn.export.kernels.gpu_launch import gpu_kernels
    from aotsnn.export.kernels.sparse_matmul import MAX_SPARSE_DENSITY

    lowered = lower(net, "float32")
    topology, _ = topology_hashes(lowered)
    index = {leaf.name: i for i, leaf in enumerate(lowered.layout.params)}
    masks = {index[k]: v for k, v in topology.items()}
    plan, funcs = plan_kernels(import_stablehlo(lowered.stablehlo_text, masks, MAX_SPARSE_DENSITY), lowered.layout)
    target = {"cuda": {"kind": "cuda", "arch": "sm_80"}, "opencl": get("opencl").tvm_target}[kind]
    return plan, gpu_kernels(funcs, tvm.target.Target(target, host="llvm"))


def test_cuda_and_opencl_share_one_set_of_gpu_schedules():
    """Same scheduled TIR, same kernels, same launch dimensions: only the code generator differs.
    The demo network has every kind of GPU kernel: CSR gather/scatter, fused element-wise, casts."""
    net = build_ei_network(n_exc=40, n_inh=10, p_conn=0.3)
    plan, cuda = _kernels_of(net, "cuda")
    _, opencl = _kernels_of(net, "opencl")
    assert tvm_ffi.structural_equal(cuda.scheduled, opencl.scheduled)
    assert cuda.table == opencl.table
    assert set(cuda.table) == {call.kernel for call in plan.calls}
    kinds = {name.split("_")[0] for name in cuda.table}
    assert {"csr", "fused"} <= kinds, kinds
    assert all(launch["block"][0] >= 32 for launches in cuda.table.values() for launch in launches)
    # and each source defines exactly the table's kernels
    for source, marker in ((cuda.source, "__global__"), (opencl.source, "__kernel")):
        for launches in cuda.table.values():
            for launch in launches:
                assert f"{launch['symbol']}(" in source and marker in source


def test_random_bits_are_computed_once_per_thread_not_inlined():
    """A threefry kernel (a PoissonSource's draw and key split) runs as one launch whose device
    code has exactly the shifts of its TIR blocks: each intermediate computed once per thread
    (RandomBitsGPU), where inlining would repeat them exponentially over the 20 rounds."""
    import re

    from aotsnn.components.sources import PoissonSource
    from aotsnn.export.kernels.fusion import has_random_bits
    from aotsnn.network import Network

    net = Network("pois", dt=0.1)
    net.add(PoissonSource("pois", 20, rate=100.0))
    net.record("pois.spikes")
    _, opencl = _kernels_of(net, "opencl")
    random = [gv.name_hint for gv, func in opencl.scheduled.functions_items() if has_random_bits(func)]
    shifting = [name for name in random if "<<" in opencl.scheduled[name].script()]
    assert shifting, random
    for name in shifting:
        (launch,) = opencl.table[name]
        body = re.search(rf"__kernel void {launch['symbol']}\([^;{{]*\) {{(.*?)\n}}\n", opencl.source, re.S).group(1)
        assert body.count("<<") == opencl.scheduled[name].script().count("<<"), name


def test_float_constants_that_tvm_rounds_are_spelled_exactly():
    """TVM prints float32 constants with 7 significant digits: 1/3 reads back one ulp off."""
    third = float(np.float32(1 / 3))
    assert np.float32(float(f"{third:e}")) != np.float32(third)          # the bug being worked around
    text = exact_float_constants("y = (x * 3.333333e-01f) - 5.000000e-01f + -3.333333e-01f;", {third, 0.5, -third})
    assert text == "y = (x * as_float(0x3eaaaaabu)) - 5.000000e-01f + -as_float(0x3eaaaaabu);"
    assert exact_float_constants("x * 3.333333e-01f", {0.3333333}) == "x * 3.333333e-01f"   # exact as printed


def test_float64_constants_that_would_change_are_refused():
    from tvm.script import tirx as T

    from aotsnn.export.errors import ExportError

    @T.prim_func
    def scale(a: T.Buffer((4,), "float64"), b: T.Buffer((4,), "float64")):
        for i in range(4):
            b[i] = a[i] * T.float64(1.0 / 3.0) + T.float64(0.5)

    @T.prim_func
    def half(a: T.Buffer((4,), "float64"), b: T.Buffer((4,), "float64")):
        for i in range(4):
            b[i] = a[i] * T.float64(0.5)

    opencl_driver.check_float64_constants(tvm.IRModule({"half": half}))
    with pytest.raises(ExportError, match=r"float64 constants with 7 significant digits.*changes 1 of this "
                                          r"network's, e.g. 0\.333.*precision='float32'"):
        opencl_driver.check_float64_constants(tvm.IRModule({"scale": scale}))


def test_kernel_names_are_short_and_unique():
    table = {"a": [{"symbol": "x" * 600 + "_kernel"}], "b": [{"symbol": "cast_kernel"}, {"symbol": "cast1_kernel"}]}
    names = short_names(table)
    assert sorted(names.values()) == ["aotsnn_k0", "aotsnn_k1", "aotsnn_k2"]


def test_device_variable_format_is_checked(monkeypatch):
    assert probe.parse_device(" 1 : 2 ") == (1, 2)
    for bad in ("0", "gpu", "0:1:2", "-1:0"):
        with pytest.raises(ValueError, match="AOTSNN_OPENCL_DEVICE=.* is not 'P:D'"):
            probe.parse_device(bad)
    monkeypatch.setenv(probe.ENV, "first")
    device, why = probe.choose_device()
    if probe.opencl_devices()[0]:
        assert device is None and "is not 'P:D'" in why


def test_no_icd_loader_is_reported(monkeypatch):
    monkeypatch.setattr(probe, "ICD_LOADER", "libOpenCL-absent.so.9")
    devices, why = probe.opencl_devices()
    assert devices == [] and "no OpenCL ICD loader" in why and "pocl-opencl-icd" in why
    ok, reason = get("opencl").runs_here()
    assert not ok and "runs on an OpenCL device: no OpenCL ICD loader" in reason


@pytest.fixture(scope="module")
def small_opencl(tmp_path_factory):
    if not RUNS:
        pytest.skip(NO_DEVICE_REASON)
    from aotsnn.export import compile_network

    net = build_ei_network(n_exc=40, n_inh=10, p_conn=0.3)
    return net, compile_network(net, tmp_path_factory.mktemp("ocl") / "small.aot", target="opencl")


def _inputs(net, steps, seed=3):
    return {k: v.astype(np.float32) for k, v in demo_inputs(net, steps, seed=seed).items()}


@needs_device
def test_loading_without_a_device_is_refused_with_the_reason(small_opencl, monkeypatch):
    from aotsnn.runtime import load

    _, path = small_opencl
    monkeypatch.setenv(probe.ENV, "7:7")
    with pytest.raises(ArtifactError, match=r"runs on an OpenCL device \('opencl' target\).*AOTSNN_OPENCL_DEVICE=7:7 "
                                            r"names no device; present: 0:0"):
        load(path)


@needs_device
def test_state_stays_on_the_device_and_follows_the_caller(small_opencl):
    """Two calls of 100 steps equal one of 200 bit for bit (the state the device kept is the one
    returned); a caller's own state is uploaded (continuing from another state gives that run);
    a parameter change reaches the device (refresh) and changes the result."""
    from aotsnn.runtime import load

    net, path = small_opencl
    session, inputs = load(path), _inputs(net, 200)
    first = {k: v[:100] for k, v in inputs.items()}
    second = {k: v[100:] for k, v in inputs.items()}
    whole_state, whole = session.run(session.init_state(), inputs)
    mid, a = session.run(session.init_state(), first)
    end, b = session.run(mid, second)
    for name in whole:
        np.testing.assert_array_equal(np.concatenate([a[name], b[name]]), whole[name])
    for name in whole_state:
        np.testing.assert_array_equal(end[name], whole_state[name])
    # a different state than the device holds: from the initial state again, the first half again
    again, a2 = session.run(session.init_state(), first)
    for name in a:
        np.testing.assert_array_equal(a2[name], a[name])
    # a parameter change reaches the device
    tau = [n for n, _ in session.layout["params"] if n.endswith("potential_tau")][0]
    session.set_params(**{tau: session.params[tau] * 0.5})
    changed, _ = session.run(session.init_state(), first)
    assert any(not np.array_equal(changed[n], mid[n]) for n in mid)
    fresh = load(path)
    fresh.set_params(**{tau: fresh.params[tau] * 0.5})
    reference, _ = fresh.run(fresh.init_state(), first)
    for name in changed:
        np.testing.assert_array_equal(changed[name], reference[name])


@needs_device
def test_stepper_is_bit_identical_to_run(small_opencl):
    from aotsnn.runtime import load

    net, path = small_opencl
    session, inputs = load(path), _inputs(net, 30)
    state, outputs = session.run(session.init_state(), inputs)
    live = session.stepper()
    for t in range(30):
        for name, value in inputs.items():
            live.inputs[name][...] = value[t]
        out = live.advance()
        for name in outputs:
            np.testing.assert_array_equal(out[name], outputs[name][t])
    for name in state:
        np.testing.assert_array_equal(live.pull(name), state[name])


@needs_device
def test_the_runtime_loads_it_without_jax_or_tvm(small_opencl, run_without_compiler):
    _, path = small_opencl
    assert run_without_compiler("aotsnn.runtime:load", path) >= 0


@needs_device
def test_a_device_that_refuses_the_kernels_gives_its_build_log(tmp_path, monkeypatch):
    """A program the device's compiler rejects: the error names the device, the options and quotes the log."""
    from aotsnn.export import compile_network
    from aotsnn.runtime import load

    real = opencl_driver.kernel_source
    monkeypatch.setattr(opencl_driver, "kernel_source",
                        lambda kernels: real(kernels) + "\n__kernel void broken(void) { undeclared_thing = 1; }\n")
    monkeypatch.setenv("AOTSNN_CACHE", str(tmp_path / "cache"))
    net = build_ei_network(n_exc=8, n_inh=2, p_conn=0.5)
    session = load(compile_network(net, tmp_path / "broken.aot", target="opencl", use_cache=False))
    for _ in range(2):       # set up once: the second call reports the same reason
        with pytest.raises(RuntimeError, match=r"refused the kernels: clBuildProgram with options "
                                               r"'-cl-fp32-correctly-rounded-divide-sqrt' failed.*build log:"
                                               r"(.|\n)*undeclared_thing"):
            session.run(session.init_state(), _inputs(net, 2))


@pytest.mark.skipif(shutil.which("aarch64-linux-gnu-gcc") is None, reason="needs aarch64-linux-gnu-gcc "
                    "(apt-get install gcc-aarch64-linux-gnu)")
@pytest.mark.skipif(not BUILDS, reason=NO_BUILD_REASON or "opencl does not build here")
def test_the_driver_cross_compiles_for_aarch64_linux(tmp_path, monkeypatch):
    """The artifact's driver.c (kernels embedded) builds as an AArch64 model.so that needs no OpenCL
    library to link: it opens libOpenCL.so.1 when it runs (readelf: no NEEDED libOpenCL)."""
    import tvm_ffi

    from aotsnn.export import compile_network
    from aotsnn.export.codegen.driver import identity_source

    monkeypatch.setenv("AOTSNN_CACHE", str(tmp_path / "cache"))
    net = build_ei_network(n_exc=8, n_inh=2, p_conn=0.5)
    path = compile_network(net, tmp_path / "arm.aot", target="opencl")
    include = opencl_driver.cl_include_dir(tmp_path)
    (tmp_path / "identity.c").write_text(identity_source({"for": "aarch64"}))
    library = tmp_path / "model-aarch64.so"
    subprocess.run(["aarch64-linux-gnu-gcc", *get("opencl").cflags, "-shared", "-fPIC", f"-I{include}",
                    f"-I{tvm_ffi.libinfo.find_include_path()}", f"-I{tvm_ffi.libinfo.find_dlpack_include_path()}",
                    str(path / "driver.c"), str(tmp_path / "identity.c"), "-o", str(library), "-ldl"],
                   check=True, capture_output=True, text=True)
    header = subprocess.run(["readelf", "-h", "-d", "--dyn-syms", str(library)], capture_output=True, text=True,
                            check=True).stdout
    assert "AArch64" in header
    needed = [line for line in header.splitlines() if "(NEEDED)" in line]
    assert needed and not any("OpenCL" in line for line in needed), needed
    assert "__tvm_ffi_aotsnn_run" in header and " clBuildProgram" not in header


@needs_device
def test_aotsnn_verify_passes_the_demo_on_host_and_opencl(tmp_path, capsys):
    """The command a user runs: `aotsnn verify --targets host,opencl` on the default model (the
    300-neuron demo network) passes on both, with identical spike trains."""
    from aotsnn.cli import main

    assert main(["verify", "--targets", "host,opencl", "--steps", "200", "--quiet", "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("PASS") >= 2 and "identical, identical" in out and "OpenCL" in out
