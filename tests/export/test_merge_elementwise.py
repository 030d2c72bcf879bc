"""Merged population kernels (aotsnn.export.kernels.merge_elementwise, and the shared-loop CPU
schedule of aotsnn.export.kernels.cpu_schedules): fewer kernels per step, the same numbers."""
from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm import relax, tirx

from aotsnn import workloads
from aotsnn.demo import build_ei_network
from aotsnn.export.artifact.publish import topology_hashes
from aotsnn.export.frontend.lower import lower
from aotsnn.export.frontend.to_relax import import_stablehlo
from aotsnn.export.kernels.cpu_schedules import vectorise_each_output, vectorise_in_one_loop
from aotsnn.export.kernels.fusion import fuse, plan_kernels
from aotsnn.export.kernels.native_cpu import specialise
from aotsnn.export.kernels.sparse_matmul import MAX_SPARSE_DENSITY
from aotsnn.targets import get

NETWORKS = {
    "demo": lambda: build_ei_network(n_exc=40, n_inh=10, p_conn=0.3),
    "demo batch 4": lambda: build_ei_network(n_exc=40, n_inh=10, p_conn=0.3, batch=4),   # rows of 40, 10
    "driven": lambda: workloads.driven_population(4096),
    "coba": lambda: workloads.coba_network(400, drive="dc"),
    "feedforward": lambda: workloads.feedforward_network((100, 50, 10)),
}


def _relax_step(net):
    lowered = lower(net, "float32")
    topology, _ = topology_hashes(lowered)
    index = {leaf.name: i for i, leaf in enumerate(lowered.layout.params)}
    masks = {index[k]: v for k, v in topology.items()}
    return import_stablehlo(lowered.stablehlo_text, masks, MAX_SPARSE_DENSITY), lowered.layout


def _per_step_kernels(net, merge: bool) -> list[str]:
    relax_mod, layout = _relax_step(net)
    plan, _ = plan_kernels(relax_mod, layout, merge=merge)
    return [call.kernel for call in plan.calls if not call.invariant]


def _arguments(main, rng) -> list[np.ndarray]:
    """Values for `main`'s arguments: spikes and masks as 0/1, the rest in [0.5, 2) (positive, so
    time constants and divisors are valid), counters as small integers."""
    values = []
    for param in main.params:
        shape, dtype = tuple(int(d) for d in param.ty.shape.values), str(param.ty.dtype)
        if dtype == "bool":
            values.append(rng.uniform(size=shape) < 0.5)
        elif dtype.startswith(("int", "uint")):
            values.append(rng.integers(0, 3, size=shape).astype(dtype))
        else:
            values.append(rng.uniform(0.5, 2.0, size=shape).astype(dtype))
    return values


def test_a_population_steps_in_one_kernel():
    """A LIF population without synapses was six kernels per step (refractory mask, potential,
    spike test, spike cast, counter, reset); merged, it is one. Networks with synapses keep their
    event/CSR kernels and get one element-wise kernel per population."""
    assert len(_per_step_kernels(NETWORKS["driven"](), merge=False)) == 6
    assert len(_per_step_kernels(NETWORKS["driven"](), merge=True)) == 1
    merged = _per_step_kernels(NETWORKS["coba"](), merge=True)
    elementwise = [k for k in merged if not k.startswith(("csr_", "event_"))]
    assert len(elementwise) == 2, merged                     # exc and inh
    assert len(merged) < len(_per_step_kernels(NETWORKS["coba"](), merge=False))


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_merged_step_equals_the_unmerged_step(name):
    """The whole step through TVM's VM, with and without merging: every result bit for bit."""
    relax_mod, layout = _relax_step(NETWORKS[name]())
    args = _arguments(relax_mod["main"], np.random.default_rng(0))
    results = []
    for merge in (None, len(layout.params)):
        vm = relax.VirtualMachine(tvm.compile(fuse(relax_mod, merge), target="llvm"), tvm.cpu())
        out = vm["main"](*[tvm.runtime.tensor(a) for a in args])
        results.append([o.numpy() for o in out])
    for i, (plain, merged) in enumerate(zip(*results)):
        np.testing.assert_array_equal(merged, plain, err_msg=f"{name}: result {i} ({layout.results[i].name})")


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_shared_loop_schedule_equals_a_loop_per_output(name):
    """Every merged kernel in one loop over vectors (values that several outputs read kept once)
    equals the same kernel with every intermediate inlined and a vector loop per output: the same
    operations in the same order, within 1 ulp. Not bit for bit: TVM builds LLVM's target with
    AllowFPOpFusion = Fast (aotsnn.export.kernels.native_cpu), and a value kept in a buffer is
    fused into its readers' multiply-adds differently from one inlined into them (driven: 105 of
    4,096 potentials 1 ulp apart)."""
    relax_mod, layout = _relax_step(NETWORKS[name]())
    fused = fuse(relax_mod, len(layout.params))
    target = tvm.target.Target(specialise(get("host"))[0])
    rng = np.random.default_rng(1)
    kernels = [gv.name_hint for gv, f in fused.functions.items()
               if isinstance(f, tirx.PrimFunc) and gv.name_hint.startswith("fused_merged")]
    assert kernels
    for kernel in kernels:
        func = fused[kernel].with_attr("global_symbol", kernel)
        shared, each = vectorise_in_one_loop(func), vectorise_each_output(func)
        assert shared is not None and each is not None, kernel
        buffers = []
        for param in func.params:
            shape, dtype = tuple(int(d) for d in param.shape), str(param.dtype)
            buffers.append((rng.uniform(size=shape) < 0.5) if dtype == "bool"
                           else rng.uniform(0.5, 2.0, size=shape).astype(dtype))
        outputs = []
        for sch in (each, shared):
            tensors = [tvm.runtime.tensor(b.copy()) for b in buffers]
            tvm.compile(tvm.IRModule({kernel: sch.mod["main"].with_attr("global_symbol", kernel)}),
                        target=target)[kernel](*tensors)
            outputs.append([t.numpy() for t in tensors])
        for i, (plain, fast) in enumerate(zip(*outputs)):
            if np.issubdtype(plain.dtype, np.floating):
                np.testing.assert_array_max_ulp(fast, plain, maxulp=1)
            else:
                np.testing.assert_array_equal(fast, plain, err_msg=f"{name}: {kernel} buffer {i}")
