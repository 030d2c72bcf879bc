"""NIR's Conv1d, SumPool2d, Delay and Scale nodes: graphs built by hand with the `nir` package,
imported with from_nir and run in JAX float64 against NumPy references written from NIR's (and
PyTorch's) definitions; then written back with to_nir, through a .nir file, and imported again."""
from __future__ import annotations

import jax
import numpy as np
import pytest

nir = pytest.importorskip("nir")

from aotsnn.nir import from_nir, to_nir  # noqa: E402

DT, T = 1e-3, 12                      # s; every node here but Delay is memoryless


def graph(node: nir.NIRNode, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> nir.NIRGraph:
    return nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array(in_shape)}), "node": node,
                               "output": nir.Output(output_type={"output": np.array(out_shape)})},
                        edges=[("input", "node"), ("node", "output")], type_check=False)


def run(g: nir.NIRGraph | str, x: np.ndarray) -> np.ndarray:
    net = from_nir(g, dt=DT, integration="euler", reset="zero")
    with jax.enable_x64(True):
        _, out = net.run(net.cast(net.init_state(), np.float64), {"input": x}, net.cast(net.params, np.float64))
    return np.asarray(out[net.nir_outputs["output"]])


def round_trip(g: nir.NIRGraph, x: np.ndarray, tmp_path) -> nir.NIRNode:
    """to_nir of the imported network, written to a file and imported again, computes the same outputs bit for
    bit; returns the exported node for field checks."""
    net = from_nir(g, dt=DT, integration="euler", reset="zero")
    exported = to_nir(net)
    nir.write(tmp_path / "again.nir", exported)
    assert np.array_equal(run(str(tmp_path / "again.nir"), x), run(g, x))
    (node,) = [n for n in exported.nodes.values() if not isinstance(n, (nir.Input, nir.Output))]
    return node


def conv1d_reference(x, w, b, stride, padding, dilation, groups):
    """PyTorch's Conv1d (cross-correlation), x (T, B, C_in, N): 'same' pads dilation (K - 1) in total, the
    larger half on the right; an int pads both sides."""
    c_out, c_per_group, k = w.shape
    if padding == "same":
        left = dilation * (k - 1) // 2
        pads = (left, dilation * (k - 1) - left)
    else:
        pads = (0, 0) if padding == "valid" else (padding, padding)
    xp = np.pad(x, [(0, 0)] * 3 + [pads])
    n_out = (xp.shape[-1] - dilation * (k - 1) - 1) // stride + 1
    out = np.zeros(x.shape[:2] + (c_out, n_out))
    per_out = c_out // groups
    for o in range(c_out):
        g = o // per_out
        for c in range(c_per_group):
            for j in range(k):
                taps = xp[:, :, g * c_per_group + c, j * dilation: j * dilation + stride * (n_out - 1) + 1: stride]
                out[:, :, o] += w[o, c, j] * taps
        out[:, :, o] += b[o]
    return out


@pytest.mark.parametrize("stride, padding, dilation, groups, k", [(2, 1, 1, 1, 3), (1, "same", 2, 2, 4), (3, "valid", 1, 2, 2)])
def test_conv1d_matches_pytorchs_definition(stride, padding, dilation, groups, k, tmp_path):
    rng = np.random.default_rng(3)
    c_in, c_out, n = 4, 6, 17
    w, b = rng.normal(size=(c_out, c_in // groups, k)), rng.normal(size=c_out)
    x = rng.normal(size=(T, 1, c_in, n))
    expected = conv1d_reference(x, w, b, stride, padding, dilation, groups)
    node = nir.Conv1d(input_shape=n, weight=w, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=b)
    g = graph(node, (c_in, n), expected.shape[2:])
    got = run(g, x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    again = round_trip(g, x, tmp_path)
    assert isinstance(again, nir.Conv1d) and np.array_equal(again.weight, w) and np.array_equal(again.bias, b)
    assert (again.stride, again.dilation, again.groups) == (stride, dilation, groups) and again.padding == padding


def sumpool2d_reference(x, kernel, stride, padding):
    """NIR's SumPool2d: zero padding on both sides, the sum of each kernel window, x (T, B, C, H, W)."""
    xp = np.pad(x, [(0, 0)] * 3 + [(p, p) for p in padding])
    rows = (xp.shape[-2] - kernel[0]) // stride[0] + 1
    cols = (xp.shape[-1] - kernel[1]) // stride[1] + 1
    out = np.zeros(x.shape[:3] + (rows, cols))
    for i in range(rows):
        for j in range(cols):
            window = xp[..., i * stride[0]: i * stride[0] + kernel[0], j * stride[1]: j * stride[1] + kernel[1]]
            out[..., i, j] = window.sum(axis=(-2, -1))
    return out


@pytest.mark.parametrize("kernel, stride, padding", [((2, 2), (2, 2), (0, 0)), ((2, 3), (2, 1), (1, 0)), ((3, 3), (1, 2), (1, 1))])
def test_sumpool2d_matches_nirs_definition(kernel, stride, padding, tmp_path):
    rng = np.random.default_rng(4)
    x = (rng.uniform(size=(T, 1, 3, 7, 8)) < 0.4) * rng.normal(size=(T, 1, 3, 7, 8))
    expected = sumpool2d_reference(x, kernel, stride, padding)
    node = nir.SumPool2d(kernel_size=np.array(kernel), stride=np.array(stride), padding=np.array(padding))
    g = graph(node, (3, 7, 8), expected.shape[2:])
    got = run(g, x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    again = round_trip(g, x, tmp_path)
    assert isinstance(again, nir.SumPool2d)
    assert [list(np.ravel(v)) for v in (again.kernel_size, again.stride, again.padding)] == [list(kernel), list(stride), list(padding)]


def test_delay_shifts_each_unit_by_its_delay(tmp_path):
    """NIR's Delay: out(t) = x(t - delay), zero before anything arrived; delay 0 passes x through in the same step."""
    steps = np.array([0, 1, 3, 2, 5])
    x = np.random.default_rng(5).normal(size=(T, 1, steps.size))
    expected = np.zeros_like(x)
    for i, d in enumerate(steps):
        expected[d:, :, i] = x[:T - d, :, i]
    g = graph(nir.Delay(steps * DT), (steps.size,), (steps.size,))
    assert np.array_equal(run(g, x), expected)
    again = round_trip(g, x, tmp_path)
    assert isinstance(again, nir.Delay)
    np.testing.assert_allclose(again.delay, steps * DT, rtol=1e-12)
    with pytest.raises(ValueError, match=r"NIR node 'node' \(Delay\): `delay` must be whole multiples of dt"):
        from_nir(graph(nir.Delay(np.array([0.5, 1.0]) * DT), (2,), (2,)), dt=DT, integration="euler", reset="zero")


def test_scale_multiplies_each_unit(tmp_path):
    rng = np.random.default_rng(6)
    scale = rng.normal(size=(2, 5))
    x = rng.normal(size=(T, 1, 2, 5))
    g = graph(nir.Scale(scale), (2, 5), (2, 5))
    assert np.array_equal(run(g, x), x * scale)         # one multiply per element: exact
    again = round_trip(g, x, tmp_path)
    assert isinstance(again, nir.Scale) and np.array_equal(again.scale, scale)
    with pytest.raises(ValueError, match=r"NIR node 'node' \(Scale\): `scale` has shape \(3,\)"):
        from_nir(graph(nir.Scale(np.ones(3)), (2, 5), (2, 5)), dt=DT, integration="euler", reset="zero")
