"""Patched and convolutional synapses against the spec (shared/spec/components.md: "patched",
"convolution"; ngclearn semantics), static and plastic.

The convolution references are written with explicit loops over output positions in float64
NumPy (padding, dilation and the kernel correlation spelled out), never calling component code.
"""
import jax
import numpy as np
import pytest
from plastic_checks import (assert_trajectory, check_compiled, exp_trace, ref_hebbian, ref_trace_stdp,
                            run_component, spikes)

from aotsnn.components.initializers import fan_in_gaussian, uniform
from aotsnn.components.plasticity import VarTrace
from aotsnn.components.somas import ExponentialSoma
from aotsnn.components.structured import (ConvSynapse, DeconvSynapse, HebbianConvSynapse, HebbianDeconvSynapse,
                                          HebbianPatchedSynapse, PatchedSynapse, Reshape, StaticPatchedSynapse,
                                          TraceSTDPConvSynapse)
from aotsnn.network import Network

BATCH, DT = 2, 0.5


@pytest.fixture()
def x64():
    with jax.enable_x64(True):
        yield


# ---------------------------------------------------------------------------------------------
# Patched
# ---------------------------------------------------------------------------------------------
def test_patch_geometry_with_stride_matches_ngclearn_layout():
    syn = PatchedSynapse("p", (6, 9), 3, stride_shape=(1, 1))
    assert syn.shape == (8, 11)
    assert syn.port("input", "x").shape == (8,) and syn.port("output", "out").shape == (11,)
    # patch i: rows [2i, 2i+4), columns [3i, 3i+5); the outer row/column on each side is unconnected
    expected = np.array([
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0],
        [0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
        [0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
        [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0],
        [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0],
        [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(syn.default_params()["mask"], expected)
    assert np.all(syn.default_params()["weights"][expected == 0] == 0)


def test_patches_are_block_diagonal_drawn_per_patch_and_combined_with_p_conn():
    syn = PatchedSynapse("p", (6, 8), 2, seed=4)
    block = np.kron(np.eye(2), np.ones((3, 4)))
    np.testing.assert_array_equal(syn.default_params()["mask"], block)
    rng = np.random.default_rng(4)                  # patch 0 is the first draw of the seed's stream,
    first = fan_in_gaussian()((3, 4), rng)          # with the patch's own fan-in (3 rows)
    np.testing.assert_array_equal(syn.default_params()["weights"][:3, :4], first)
    sparse = PatchedSynapse("p", (6, 8), 2, p_conn=0.5, seed=4).default_params()["mask"]
    assert np.all(sparse <= block) and 0 < sparse.sum() < block.sum()


def test_patched_forward_matches_reference(x64):
    syn = StaticPatchedSynapse("p", (6, 9), 3, stride_shape=(1, 0), bias_init=uniform(-1, 1), resist_scale=2.0)
    params = syn.default_params()
    x = np.random.default_rng(0).uniform(size=(20, BATCH, 8))
    _, outs = run_component(syn, params, {"x": x}, DT)
    want = np.einsum("tbi,ij->tbj", x, params["weights"] * params["mask"]) * 2.0 + params["biases"]
    assert_trajectory(outs["out"], want, "out")


@pytest.mark.parametrize("optim_type", ["sgd", "adam"])
def test_hebbian_patched_matches_reference_and_keeps_its_blocks(optim_type, x64):
    syn = HebbianPatchedSynapse("p", (6, 9), 3, stride_shape=(1, 1), eta=0.05, w_bound=1.0, sign_value=-1.0,
                                optim_type=optim_type, p_conn=0.8, weight_init=uniform(0.0, 0.5), seed=1)
    steps, rng = 200, np.random.default_rng(2)
    pre, post = rng.uniform(size=(steps, BATCH, 8)), rng.uniform(size=(steps, BATCH, 11))
    params, state0 = syn.default_params(), syn.init_state(BATCH)
    states, _ = run_component(syn, params, {"x": pre, "pre": pre, "post": post}, DT)
    W_ref, _ = ref_hebbian(state0["weights"], None, params["mask"], pre, post, eta=0.05, w_bound=1.0,
                           is_nonnegative=False, prior=None, lmbda=0.0, l1_ratio=0.0, sign_value=-1.0,
                           optim=optim_type, pre_wght=1.0, post_wght=1.0)
    assert_trajectory(states["weights"], W_ref, "weights")
    outside = syn.geometry.mask() == 0
    assert np.all(states["weights"][:, outside] == 0), "learning connected two patches"
    assert states["weights"][-1][params["mask"] > 0].min() > 0.5, "ascent must grow every connected weight"


# ---------------------------------------------------------------------------------------------
# Convolution: NumPy references
# ---------------------------------------------------------------------------------------------
def same_pads(size, k, s):
    """lax "SAME": output ceil(size/s), the total padding split with the smaller half first."""
    total = max((-(-size // s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def pad_input(x, k, s, padding):
    (kh, kw), (sh, sw) = k, s
    pads = [same_pads(x.shape[1], kh, sh), same_pads(x.shape[2], kw, sw)] if padding == "SAME" else [(0, 0)] * 2
    return np.pad(x, [(0, 0), *pads, (0, 0)])


def np_correlate_windows(xp, post_or_kernel, k, s, out_hw, kernel_grad):
    """Loops over output positions of a stride-s correlation of the padded input xp."""
    (kh, kw), (sh, sw), (Ho, Wo) = k, s, out_hw
    if kernel_grad:
        dK = np.zeros((kh, kw, xp.shape[3], post_or_kernel.shape[3]))
        for i in range(Ho):
            for j in range(Wo):
                window = xp[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]
                dK += np.einsum("nhwc,no->hwco", window, post_or_kernel[:, i, j, :])
        return dK
    out = np.zeros((xp.shape[0], Ho, Wo, post_or_kernel.shape[3]))
    for i in range(Ho):
        for j in range(Wo):
            window = xp[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]
            out[:, i, j, :] = np.einsum("nhwc,hwco->no", window, post_or_kernel)
    return out


def conv_out_hw(xp_hw, k, s):
    return tuple((n - kk) // ss + 1 for n, kk, ss in zip(xp_hw, k, s))


def np_conv(x, K, s, padding):
    xp = pad_input(x, K.shape[:2], s, padding)
    return np_correlate_windows(xp, K, K.shape[:2], s, conv_out_hw(xp.shape[1:3], K.shape[:2], s), False)


def np_conv_dK(x, post, kshape, s, padding):
    xp = pad_input(x, kshape, s, padding)
    return np_correlate_windows(xp, post, kshape, s, post.shape[1:3], True)


def transposed_input(x, k, s, padding):
    """Dilate x by the stride (s-1 zeros between samples) and pad as lax.conv_transpose does:
    SAME pads k + s - 2 in all (k - 1 first when s > k - 1, else the larger half first);
    VALID pads k + s - 2 + max(k - s, 0) with k - 1 first."""
    dilated = np.zeros((x.shape[0], (x.shape[1] - 1) * s[0] + 1, (x.shape[2] - 1) * s[1] + 1, x.shape[3]))
    dilated[:, ::s[0], ::s[1], :] = x
    pads = []
    for kk, ss in zip(k, s):
        total = kk + ss - 2 + (max(kk - ss, 0) if padding == "VALID" else 0)
        first = kk - 1 if padding == "VALID" or ss > kk - 1 else -(-total // 2)
        pads.append((first, total - first))
    return np.pad(dilated, [(0, 0), *pads, (0, 0)])


def np_deconv(x, K, s, padding):
    xp = transposed_input(x, K.shape[:2], s, padding)
    return np_correlate_windows(xp, K, K.shape[:2], (1, 1), conv_out_hw(xp.shape[1:3], K.shape[:2], (1, 1)), False)


def np_deconv_dK(x, post, kshape, s, padding):
    xp = transposed_input(x, kshape, s, padding)
    return np_correlate_windows(xp, post, kshape, (1, 1), post.shape[1:3], True)


CONV_CASES = [((6, 6), (3, 3, 2, 3), 1, "SAME"), ((7, 7), (3, 3, 2, 3), 2, "SAME"),
              ((6, 5), (2, 3, 2, 4), 2, "VALID"), ((5, 5), (3, 3, 1, 2), 1, "VALID")]


@pytest.mark.parametrize("x_shape,kernel,stride,padding", CONV_CASES)
@pytest.mark.parametrize("kind", ["conv", "deconv"])
def test_conv_forward_and_hebbian_product_match_reference(kind, x_shape, kernel, stride, padding, x64):
    cls, np_forward, np_dK = ((ConvSynapse, np_conv, np_conv_dK) if kind == "conv"
                              else (DeconvSynapse, np_deconv, np_deconv_dK))
    syn = cls("c", kernel, x_shape, stride=stride, padding=padding, bias_init=uniform(-1, 1), resist_scale=1.5,
              p_conn=0.7, seed=3)
    params, s = syn.default_params(), (stride, stride)
    rng = np.random.default_rng(5)
    x = rng.uniform(size=(4, BATCH, *x_shape, kernel[2]))
    _, outs = run_component(syn, params, {"x": x}, DT)
    K = params["weights"] * params["mask"]
    want = np.stack([np_forward(x[t], K, s, padding) * 1.5 + params["biases"] for t in range(len(x))])
    assert_trajectory(outs["out"], want, f"{kind} out")
    out_hw = syn.port("output", "out").shape[:2]
    if kind == "conv":
        assert out_hw == tuple(-(-(n - (k - 1 if padding == "VALID" else 0)) // stride)
                               for n, k in zip(x_shape, kernel))
    else:
        assert out_hw == tuple(n * stride + (max(k - stride, 0) if padding == "VALID" else 0)
                               for n, k in zip(x_shape, kernel))
    post = rng.uniform(size=(BATCH, *out_hw, kernel[3]))
    np.testing.assert_allclose(np.asarray(syn.correlate(syn.default_params(), x[0], post)), np_dK(x[0], post, kernel[:2], s, padding),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind,stride,padding", [("conv", 2, "SAME"), ("deconv", 2, "VALID"), ("conv", 1, "VALID")])
def test_hebbian_conv_matches_reference(kind, stride, padding, x64):
    cls, np_dK = (HebbianConvSynapse, np_conv_dK) if kind == "conv" else (HebbianDeconvSynapse, np_deconv_dK)
    kernel, x_shape = (3, 3, 2, 3), (5, 5)
    syn = cls("c", kernel, x_shape, stride=stride, padding=padding, eta=0.002, sign_value=-1.0, w_bound=1.0,
              is_nonnegative=True, w_decay=0.01, bias_init=uniform(0, 0.1), weight_init=uniform(0, 0.3), p_conn=0.8,
              seed=6)
    steps, rng = 150, np.random.default_rng(7)
    out_shape = syn.port("output", "out").shape
    pre = spikes(rng, (steps, BATCH, *x_shape, 2), 0.3)
    post = rng.uniform(-0.5, 1.0, size=(steps, BATCH, *out_shape))
    params, state0 = syn.default_params(), syn.init_state(BATCH)
    states, _ = run_component(syn, params, {"x": pre, "pre": pre, "post": post}, DT)
    W_ref, b_ref = ref_hebbian(state0["weights"], state0["biases"], params["mask"], pre, post, eta=0.002,
                               w_bound=1.0, is_nonnegative=True, prior="l2", lmbda=0.01, l1_ratio=0.0,
                               sign_value=-1.0, optim="sgd", pre_wght=1.0, post_wght=1.0,
                               corr=lambda p, q: np_dK(p, q, kernel[:2], (stride, stride), padding))
    assert_trajectory(states["weights"], W_ref, "kernel")
    assert_trajectory(states["biases"], b_ref, "biases")
    assert np.abs(W_ref[-1] - state0["weights"]).max() > 0.05
    assert np.all(states["weights"][:, params["mask"] == 0] == 0), "a pruned kernel entry regrew"


@pytest.mark.parametrize("mu", [0.0, 0.5])
def test_trace_stdp_conv_matches_reference(mu, x64):
    kernel, x_shape = (3, 3, 2, 2), (6, 6)
    syn = TraceSTDPConvSynapse("c", kernel, x_shape, stride=2, padding="SAME", A_plus=0.02, A_minus=0.015, mu=mu,
                               eta=1.0, w_bound=1.0, tau_w=300.0, pretrace_target=0.05, seed=8)
    steps, rng = 150, np.random.default_rng(9)
    pre, post = spikes(rng, (steps, BATCH, *x_shape, 2), 0.2), spikes(rng, (steps, BATCH, 3, 3, 2), 0.2)
    inp = {"x": pre, "pre_spike": pre, "post_spike": post, "pre_trace": exp_trace(pre, 4, DT),
           "post_trace": exp_trace(post, 4, DT)}
    params, state0 = syn.default_params(), syn.init_state(BATCH)
    states, _ = run_component(syn, params, inp, DT)
    W_ref = ref_trace_stdp(state0["weights"], params["mask"], inp, A_plus=0.02, A_minus=0.015, eta=1.0, mu=mu,
                           target=0.05, w_bound=1.0, tau_w=300.0,
                           corr=lambda p, q: np_conv_dK(p, q, kernel[:2], (2, 2), "SAME"))
    assert_trajectory(states["weights"], W_ref, "kernel")
    assert np.abs(W_ref[-1] - state0["weights"]).max() > 0.05


def test_frozen_conv_keeps_the_kernel_in_params():
    frozen = HebbianConvSynapse("c", (3, 3, 2, 3), (6, 6), eta=0.1, learning=False)
    assert set(frozen.default_params()) == {"weights", "mask", "resist_scale"} and frozen.init_state(1) == {}
    assert frozen.default_params()["weights"].shape == (3, 3, 2, 3)


@pytest.mark.parametrize("build,message", [
    (lambda: ConvSynapse("c", (3, 3, 2), (6, 6)), "`shape` must be 4 positive integers"),
    (lambda: ConvSynapse("c", (3, 3, 2, 2), (6, 6), padding="FULL"), "`padding` must be one of"),
    (lambda: ConvSynapse("c", (3, 3, 2, 2), (6, 6), stride=0), "`stride` must be 2 positive integers"),
    (lambda: ConvSynapse("c", (7, 7, 2, 2), (6, 6), padding="VALID"), "leaves no output"),
    (lambda: PatchedSynapse("p", (7, 9), 3), "divisible by n_sub_models=3"),
    (lambda: PatchedSynapse("p", (6, 9), 3, stride_shape=(-1, 0)), "`stride_shape` must be"),
    (lambda: Reshape("r", (3, 3), (10,)), "same number of values"),
])
def test_bad_structures_are_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()


# ---------------------------------------------------------------------------------------------
# Compiled artifacts equal JAX
# ---------------------------------------------------------------------------------------------
def test_compiled_patched_network_equals_jax(tmp_path):
    net = Network("patched", dt=DT, batch=2)
    net.add_input("drive", (8,))
    net.add(HebbianPatchedSynapse("hebb", (6, 9), 3, stride_shape=(1, 1), eta=0.002, sign_value=-1.0,
                                  optim_type="adam", resist_scale=200.0, weight_init=uniform(0.2, 0.8), seed=1))
    net.add(StaticPatchedSynapse("static", (6, 9), 3, stride_shape=(1, 1), resist_scale=100.0,
                                 weight_init=uniform(0.2, 0.8), seed=2))
    net.add(ExponentialSoma("soma", 11, potential_reset=-70.0))
    for syn in ("hebb", "static"):
        net.connect("drive", f"{syn}.x")
        net.connect(f"{syn}.out", "soma.i")
    net.connect("drive", "hebb.pre")
    net.connect("soma.spikes", "hebb.post")
    net.record("soma.spikes")
    drive = spikes(np.random.default_rng(3), (300, 2, 8), 0.3)
    check_compiled(net, {"drive": drive}, tmp_path, learned=("hebb.weights",))


def test_compiled_conv_network_equals_jax(tmp_path):
    """drive (6, 6, 2) -> trace-STDP conv (stride 2) -> soma (27 units, through Reshape) -> spikes
    back to (3, 3, 3) for the rule, plus a Hebbian deconvolution reconstructing the drive."""
    net = Network("conv", dt=DT, batch=2)
    net.add_input("drive", (6, 6, 2))
    net.add(TraceSTDPConvSynapse("conv", (3, 3, 2, 3), (6, 6), stride=2, A_plus=0.02, A_minus=0.02,
                                 resist_scale=120.0, seed=1))
    net.add(Reshape("flat", (3, 3, 3), (27,)))
    net.add(ExponentialSoma("soma", 27, potential_reset=-70.0))
    net.add(Reshape("grid", (27,), (3, 3, 3)))
    net.add(HebbianDeconvSynapse("deconv", (3, 3, 3, 2), (3, 3), stride=2, eta=0.001, sign_value=-1.0, seed=2))
    net.add(VarTrace("pre_tr", (6, 6, 2), tau_tr=5.0))
    net.add(VarTrace("post_tr", (3, 3, 3), tau_tr=5.0))
    for source, target in [("drive", "conv.x"), ("drive", "conv.pre_spike"), ("conv.out", "flat.x"),
                           ("flat.out", "soma.i"), ("soma.spikes", "grid.x"), ("grid.out", "conv.post_spike"),
                           ("pre_tr.trace", "conv.pre_trace"), ("post_tr.trace", "conv.post_trace"),
                           ("drive", "pre_tr.s"), ("grid.out", "post_tr.s"), ("grid.out", "deconv.x"),
                           ("grid.out", "deconv.pre"), ("drive", "deconv.post")]:
        net.connect(source, target)
    net.record("soma.spikes", "deconv.out")
    drive = spikes(np.random.default_rng(4), (200, 2, 6, 6, 2), 0.3)
    check_compiled(net, {"drive": drive}, tmp_path, learned=("conv.weights", "deconv.weights"))
