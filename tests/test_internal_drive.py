"""The demo and COBA networks with their Poisson drive inside the artifact: no inputs, `steps=T`,
spike trains equal to the JAX reference bit for bit on host, on the C bundle and on opencl (the
GPU schedule of random bits, aotsnn.export.kernels.gpu_schedules.RandomBitsGPU; PoCL in CI)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from aotsnn.demo import build_ei_network
from aotsnn.export import compile_network
from aotsnn.runtime.harness import load_any
from aotsnn.targets import get
from aotsnn.workloads import coba_initial_state, coba_network

T = 300
BUILDS = {"demo": lambda: (build_ei_network(drive="poisson"), None),
          "coba": lambda: (lambda net: (net, coba_initial_state(net)))(coba_network(400, drive="poisson"))}


# opencl with -m slow: its random kernels are checked bit-exact by the conformance network `sources`
@pytest.mark.parametrize("target", ["host", "c", pytest.param("opencl", marks=pytest.mark.slow)])
@pytest.mark.parametrize("name", sorted(BUILDS))
def test_internal_poisson_drive_is_bit_exact(name, target, tmp_path):
    runs, why = get(target).runs_here()
    if not runs:
        pytest.skip(why)
    net, initial = BUILDS[name]()
    assert not net.input_shapes
    initial = net.init_state() if initial is None else initial
    state = net.cast(initial, jnp.float32)
    ref_state, ref = jax.jit(lambda s, p: net.run(s, None, p, steps=T))(state, net.cast(net.params, jnp.float32))
    session = load_any(compile_network(net, tmp_path / f"{name}.aot", target=target))
    start = {k: np.asarray(v, session.leaf_dtype("state", k)) for k, v in initial.items()}
    final, out = session.run(start, {}, steps=T)
    for port in ("exc.spikes", "inh.spikes"):
        assert 0 < out[port].sum() < out[port].size / 2, f"{port} has {out[port].sum()} spikes: tests nothing"
        np.testing.assert_array_equal(out[port], np.asarray(ref[port]), err_msg=f"{name} {target} {port}")
    for leaf in ("poisson_exc.key", "poisson_inh.key"):
        np.testing.assert_array_equal(final[leaf], np.asarray(ref_state[leaf]), err_msg=leaf)


def test_unknown_drive_is_refused():
    with pytest.raises(ValueError, match="`drive` must be one of"):
        build_ei_network(drive="noise")
    with pytest.raises(ValueError, match="`drive` must be one of"):
        coba_network(400, drive="noise")
