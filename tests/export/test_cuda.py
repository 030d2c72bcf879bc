"""The cuda target: what can be checked without a GPU, and the GPU run where there is one.

Without a GPU: the thread-bound kernels compute what the CPU kernels compute (built with serial
loops in place of thread bindings), the artifact builds (nvcc) with a launch for every device
kernel, and loading it is refused with the reason. With a GPU (aotsnn.runtime.cuda finds one),
the artifact must match JAX like every target (tests/test_targets.py runs it through the
`target` fixture as well).
"""
from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest
import tvm

from aotsnn.demo import build_ei_network, demo_inputs
from aotsnn.export.kernels.gpu_schedules import (correlate_gpu, densify_gpu, event_matmul_gpu, gather_gpu,
                                                gpu_version, scatter_gpu)
from aotsnn.export.kernels.event_matmul import event_matmul_kernel
from aotsnn.export.kernels.sparse_matmul import correlate_kernel, csr_of, densify_kernel, gather_kernel, scatter_kernel
from aotsnn.runtime.cuda import cuda_devices
from aotsnn.targets import get

GPU, NO_GPU_REASON = cuda_devices()
BUILDS, NO_BUILD_REASON = get("cuda").builds_here()


def _run_both(cpu, gpu, arrays):
    """Build both PrimFuncs for the CPU, run each on fresh copies of `arrays`; their last outputs."""
    lib = tvm.compile(tvm.IRModule({"cpu": cpu.with_attr("global_symbol", "cpu"),
                                    "gpu": gpu.with_attr("global_symbol", "gpu")}), target={"kind": "llvm"})
    results = []
    for name in ("cpu", "gpu"):
        tensors = [tvm.runtime.tensor(a.copy()) for a in arrays]
        lib[name](*tensors)
        results.append(tensors[-1].numpy())
    return results


def _spikes(rng, shape, rate):
    return ((rng.random(shape) < rate) * rng.uniform(0.5, 2.0, shape)).astype(np.float32)


@pytest.mark.parametrize("m,k,n", [(1, 40, 40), (2, 37, 70), (1, 300, 513)])
def test_gpu_event_matmul_computes_the_cpu_sums(m, k, n):
    rng = np.random.default_rng(k)
    x, w = _spikes(rng, (m, k), 0.2), rng.normal(size=(k, n)).astype(np.float32)
    cpu, gpu = _run_both(event_matmul_kernel(m, k, n, "float32"), event_matmul_gpu(m, k, n, "float32", serial=True),
                         [x, w, np.zeros((m, n), np.float32)])
    np.testing.assert_array_equal(gpu, cpu)
    assert np.abs(cpu).sum() > 0


@pytest.mark.parametrize("m,k,n,p", [(1, 40, 40, 0.3), (2, 77, 130, 0.05), (1, 64, 33, 0.0)])
def test_gpu_csr_kernels_compute_the_cpu_sums(m, k, n, p):
    rng = np.random.default_rng(n)
    mask = (rng.random((k, n)) < p).astype(np.float32)
    row_start, cols = csr_of(mask)
    nnz = len(cols)
    cols = cols if nnz else np.zeros(1, np.int32)
    w = rng.normal(size=(k, n)).astype(np.float32)
    values = np.zeros(max(nnz, 1), np.float32)
    cpu_values, gpu_values = _run_both(gather_kernel(k, n, nnz, "float32"), gather_gpu(k, n, nnz, "float32", serial=True),
                                       [w, mask, row_start, cols, values])
    np.testing.assert_array_equal(gpu_values, cpu_values)
    x = _spikes(rng, (m, k), 0.3)
    cpu, gpu = _run_both(scatter_kernel(m, k, n, nnz, "float32"), scatter_gpu(m, k, n, nnz, "float32", serial=True),
                         [x, cpu_values, row_start, cols, np.zeros((m, n), np.float32)])
    np.testing.assert_array_equal(gpu, cpu)
    np.testing.assert_allclose(cpu, x @ (w * mask), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("m,k,n,p", [(1, 40, 40, 0.3), (3, 77, 130, 0.05)])
def test_gpu_csr_correlate_computes_the_cpu_sums(m, k, n, p):
    """The Hebbian product of a sparse synapse: c[s] = sum_i a[i, pre(s)] z[i, post(s)]."""
    rng = np.random.default_rng(k)
    mask = (rng.random((k, n)) < p).astype(np.float32)
    mask[k // 2] = 0.0                                   # an input without synapses
    row_start, cols = csr_of(mask)
    nnz = len(cols)
    a, z = _spikes(rng, (m, k), 0.5), rng.normal(size=(m, n)).astype(np.float32)
    cpu, gpu = _run_both(correlate_kernel(m, k, n, nnz, "float32"), correlate_gpu(m, k, n, nnz, "float32", serial=True),
                         [a, z, row_start, cols, np.zeros(nnz, np.float32)])
    np.testing.assert_array_equal(gpu, cpu)
    rows = np.repeat(np.arange(k), np.diff(row_start))
    np.testing.assert_allclose(cpu, (a.T @ z)[rows, cols], rtol=1e-5, atol=1e-5)
    assert np.abs(cpu).sum() > 0


def test_gpu_csr_densify_adds_multapses_as_the_cpu_kernel():
    k, n = 30, 20
    rng = np.random.default_rng(5)
    pre = np.sort(rng.integers(0, k - 1, 200))                 # repeated pairs; the last row has no synapse
    post = rng.integers(0, n, 200).astype(np.int32)
    row_start = np.zeros(k + 1, np.int32)
    np.cumsum(np.bincount(pre, minlength=k), out=row_start[1:])
    values = rng.normal(size=200).astype(np.float32)
    cpu, gpu = _run_both(densify_kernel(k, n, 200, "float32"), densify_gpu(k, n, 200, "float32", serial=True),
                         [values, row_start, post, np.full((k, n), 7.0, np.float32)])
    expected = np.zeros((k, n), np.float32)
    np.add.at(expected, (pre, post), values)
    np.testing.assert_array_equal(gpu, cpu)
    np.testing.assert_allclose(cpu, expected, rtol=1e-6, atol=1e-6)



def test_gpu_csr_scatter_adds_multapses_in_the_cpu_order():
    """A sparse synapse's own CSR (aotsnn.components.connectivity) may repeat a pair (Explicit:
    multapses add): the GPU scatter must add every synapse of a repeated column, as the CPU does."""
    from aotsnn.components.connectivity import Explicit

    rng = np.random.default_rng(5)
    m, k, n = 2, 30, 20
    pre, post = rng.integers(0, k, 200), rng.integers(0, n, 200)
    pre, post = np.concatenate([pre, pre[:50]]), np.concatenate([post, post[:50]])      # 50 pairs twice or more
    synapses = Explicit(pre, post).draw(k, n, rng)
    nnz = synapses.n_synapses
    weights = rng.normal(size=nnz).astype(np.float32)
    x = _spikes(rng, (m, k), 0.5)
    cpu, gpu = _run_both(scatter_kernel(m, k, n, nnz, "float32"), scatter_gpu(m, k, n, nnz, "float32", serial=True),
                         [x, weights, synapses.pre_start, synapses.post_index, np.zeros((m, n), np.float32)])
    dense = np.zeros((k, n))
    np.add.at(dense, (synapses.pre_index(), synapses.post_index), weights)
    np.testing.assert_allclose(cpu, x @ dense, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(gpu, cpu)


def test_gpu_csr_correlate_is_picked_by_name_and_sums_like_the_cpu():
    """The Hebbian product of a plastic synapse list, c[p] = sum over i of a[i, pre(p)] z[i, post(p)],
    is picked by the kernel's name and sums in the CPU kernel's order."""
    from aotsnn.components.connectivity import FixedOutDegree

    rng = np.random.default_rng(3)
    m, k, n = 3, 45, 20
    synapses = FixedOutDegree(4).draw(k, n, rng)
    nnz = synapses.n_synapses
    cpu_kernel = correlate_kernel(m, k, n, nnz, "float32")
    assert gpu_version(f"csr_correlate_{m}x{k}x{n}_{nnz}_float32", cpu_kernel) is not None
    a, z = _spikes(rng, (m, k), 0.4), rng.normal(size=(m, n)).astype(np.float32)
    cpu, gpu = _run_both(cpu_kernel, correlate_gpu(m, k, n, nnz, "float32", serial=True),
                         [a, z, synapses.pre_start, synapses.post_index, np.zeros(nnz, np.float32)])
    np.testing.assert_allclose(cpu, np.sum(a[:, synapses.pre_index()] * z[:, synapses.post_index], axis=0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(gpu, cpu)
    assert np.abs(cpu).sum() > 0


@pytest.fixture(scope="module")
def cuda_artifact(tmp_path_factory):
    if not BUILDS:
        pytest.skip(NO_BUILD_REASON)
    from aotsnn.export import compile_network

    net = build_ei_network(n_exc=40, n_inh=10, p_conn=0.3)
    return net, compile_network(net, tmp_path_factory.mktemp("cuda") / "small.aot", target="cuda")


def test_cuda_artifact_builds_with_every_kernel_launched(cuda_artifact):
    _, path = cuda_artifact
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["target"]["name"] == "cuda" and manifest["target"]["device"] == "cuda"
    assert set(manifest["files"]) >= {"model.so", "driver.cu"}
    exported = subprocess.run(["nm", "-D", "--defined-only", str(path / "model.so")], capture_output=True,
                              text=True, check=True).stdout
    assert "__tvm_ffi_aotsnn_run" in exported
    source = (path / "driver.cu").read_text()
    kernels = set(re.findall(r"__global__ void (?:__launch_bounds__\(\d+\) )?(\w+)\(", source))
    launched = set(re.findall(r"cudaLaunchKernel\(\(const void \*\)(\w+),", source))
    assert kernels and kernels == launched
    assert manifest["build"]["kernel_calls_per_step"] + manifest["build"]["hoisted_kernel_calls"] <= len(
        re.findall(r"cudaLaunchKernel", source))


@pytest.mark.skipif(GPU > 0, reason="this machine has a GPU")
def test_cuda_artifact_is_refused_without_a_gpu(cuda_artifact):
    from aotsnn.runtime import ArtifactError, load

    with pytest.raises(ArtifactError, match=f"runs on an NVIDIA GPU .* has none it can use: {re.escape(NO_GPU_REASON)}"):
        load(cuda_artifact[1])


@pytest.mark.skipif(GPU == 0, reason=f"no GPU here: {NO_GPU_REASON}")
def test_cuda_artifact_matches_jax(cuda_artifact):
    from aotsnn.runtime import load
    from aotsnn.verify import compare

    net, path = cuda_artifact
    inputs = {k: v.astype(np.float32) for k, v in demo_inputs(net, 200, seed=5).items()}
    report = compare(load(path), net, inputs)
    assert report.passed, report.failures()
