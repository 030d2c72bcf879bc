"""Helpers for the plasticity and structured-synapse tests: stepping one component, comparing
trajectories step by step, and checking a compiled network against JAX."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

RTOL, ATOL = 1e-9, 1e-12


def run_component(component, params, inputs, dt, state=None):
    """Step `component` over the time axis of `inputs` with jax.jit(step); return (states, outputs),
    each leaf stacked on a leading time axis. Use inside `jax.enable_x64(True)` for float64."""
    step = jax.jit(component.step, static_argnums=3)
    steps, batch = next(iter(inputs.values())).shape[:2]
    state = component.init_state(batch) if state is None else state
    state = {k: jnp.asarray(v) for k, v in state.items()}
    params = {k: jnp.asarray(v) for k, v in params.items()}
    states, outs = [], []
    for t in range(steps):
        state, out = step(params, state, {k: jnp.asarray(v[t]) for k, v in inputs.items()}, dt)
        states.append({k: np.asarray(v) for k, v in state.items()})
        outs.append({k: np.asarray(v) for k, v in out.items()})
    stack = lambda seq: {k: np.stack([s[k] for s in seq]) for k in seq[0]}  # noqa: E731
    return stack(states), stack(outs)


def assert_trajectory(got: np.ndarray, want: np.ndarray, what: str, rtol: float = RTOL, atol: float = ATOL) -> None:
    """Every step of `got` matches `want`; on failure name the first step and the largest error."""
    assert got.shape == want.shape, f"{what}: shape {got.shape}, want {want.shape}"
    err = np.abs(got - want)
    bad = np.argwhere(err > atol + rtol * np.abs(want))
    if bad.size:
        t = bad[0][0]
        pytest.fail(f"{what}: first differs at step {t}: got {got[t].ravel()[:4]}, want {want[t].ravel()[:4]}; "
                    f"largest error {err.max():.3g}")


def spikes(rng: np.random.Generator, shape: tuple[int, ...], rate: float) -> np.ndarray:
    return (rng.uniform(size=shape) < rate).astype(np.float64)


def exp_trace(s: np.ndarray, tau: float, dt: float) -> np.ndarray:
    """z[t] = z[t-1]*exp(-dt/tau) + s[t], z[-1] = 0, along axis 0 (an input for the rules)."""
    z, out = np.zeros(s.shape[1:]), np.empty_like(s)
    for t in range(len(s)):
        z = z * np.exp(-dt / tau) + s[t]
        out[t] = z
    return out


def outer(a, b):
    """sum over the batch of outer products, written as loops over units."""
    out = np.zeros((a.shape[1], b.shape[1]))
    for i in range(a.shape[1]):
        for j in range(b.shape[1]):
            out[i, j] = np.sum(a[:, i] * b[:, j])
    return out


def ref_hebbian(W, b, mask, pre, post, *, eta, w_bound, is_nonnegative, prior, lmbda, l1_ratio, sign_value,
                optim, pre_wght, post_wght, beta1=0.9, beta2=0.999, eps=1e-8, momentum=0.9, corr=None):
    """Spec: dW = (pre*pre_w).T @ (post*post_w); *(w_bound - |W|) if w_bound > 0; + prior;
    *sign; sgd W - eta*dW, adam with bias correction, or ngclearn's nag; clip; mask. Biases: db = sum(post*post_w)*sign
    over every axis but the last. `corr(pre, post)` is the structure's Hebbian product (default: dense)."""
    corr = corr or outer
    W, b = W.copy(), None if b is None else b.copy()
    m = {"W": np.zeros_like(W), "b": None if b is None else np.zeros_like(b)}
    v = {k: None if x is None else np.zeros_like(x) for k, x in m.items()}
    phi = {k: None if x is None else np.zeros_like(x) for k, x in m.items()}
    Ws, bs = [], []
    for t in range(len(pre)):
        p, q = pre[t] * pre_wght, post[t] * post_wght
        dW = corr(p, q)
        if w_bound > 0:
            dW = dW * (w_bound - np.abs(W))
        reg = {"l2": -lmbda * W, "l1": -lmbda * np.sign(W),
               "elastic_net": -lmbda * (l1_ratio * np.sign(W) + (1 - l1_ratio) / 2 * W), None: 0.0}[prior]
        grads = {"W": (dW + reg) * sign_value * mask, "b": q.reshape(-1, q.shape[-1]).sum(axis=0) * sign_value}
        values = {"W": W, "b": b}
        for key in ("W", "b") if b is not None else ("W",):
            g = grads[key]
            if optim == "sgd":
                values[key] = values[key] - eta * g
            elif optim == "nag":                     # ngclearn utils/optim/nag.py, step_update
                ghost = values[key] - eta * g
                values[key] = ghost + (ghost - phi[key]) * (momentum if t > 0 else 0.0)
                phi[key] = ghost
            else:
                m[key] = beta1 * m[key] + (1 - beta1) * g
                v[key] = beta2 * v[key] + (1 - beta2) * g ** 2
                m_hat, v_hat = m[key] / (1 - beta1 ** (t + 1)), v[key] / (1 - beta2 ** (t + 1))
                values[key] = values[key] - eta * m_hat / (np.sqrt(v_hat) + eps)
        W, b = values["W"], values["b"]
        if is_nonnegative:
            W = np.maximum(W, 0)
        if w_bound > 0:
            W = np.clip(W, -w_bound, w_bound)
        W = W * mask
        Ws.append(W)
        bs.append(b)
    return np.stack(Ws), None if b is None else np.stack(bs)


def ref_trace_stdp(W, mask, inp, *, A_plus, A_minus, eta, mu, target, w_bound, tau_w, corr=None):
    corr = corr or outer
    Ws = []
    for t in range(len(inp["pre_spike"])):
        ltp_corr = corr(inp["pre_trace"][t] - target, inp["post_spike"][t])
        ltd_corr = corr(inp["pre_spike"][t], inp["post_trace"][t])
        if mu > 0:
            dW = A_plus * (w_bound - W) ** mu * ltp_corr - A_minus * W ** mu * ltd_corr
        else:
            dW = A_plus * ltp_corr - A_minus * ltd_corr
        decay = W / tau_w if tau_w > 0 else 0.0
        W = np.clip(W + eta * dW - decay, 0, w_bound) * mask
        Ws.append(W)
    return np.stack(Ws)


def check_compiled(net, inputs: dict[str, np.ndarray], path, *, learned: tuple[str, ...] = (),
                   state_rtol: float = 1e-4, state_atol: float = 1e-4):
    """Compile `net`, run it with the thin runtime and compare with JAX (aotsnn.verify.compare):
    one step from the artifact's own state vs float64 must pass the target tolerance, spike
    trains of the free run must be identical to jax.jit(lax.scan) in float32, and the free-run
    final state must agree within (state_rtol, state_atol). Every leaf in `learned` must have
    changed during the run (so the check exercises learning). Returns (session, report)."""
    from aotsnn.export import compile_network
    from aotsnn.runtime import load
    from aotsnn.verify import compare

    session = load(compile_network(net, path / f"{net.name}.aot"))
    inputs = {k: v.astype(np.float32) for k, v in inputs.items()}
    report = compare(session, net, inputs)
    assert report.passed, report.failures()
    for train in report.free_run:
        assert train.identical, f"{train.name}: spike trains diverge at {train.first_divergence}"
    assert sum(train.artifact_spikes for train in report.free_run) > 0, "the test network must spike"
    final, _ = session.run(session.init_state(), inputs)
    reference = jax.jit(lambda p, s, x: net.run(s, x, p))(net.cast(net.params, jnp.float32),
                                                           net.cast(net.init_state(), jnp.float32), inputs)[0]
    for name, value in final.items():
        np.testing.assert_allclose(value, np.asarray(reference[name]), rtol=state_rtol, atol=state_atol,
                                   err_msg=name)
    initial = session.init_state()
    for name in learned:
        assert not np.array_equal(final[name], initial[name]), f"{name} did not change: nothing was learned"
    return session, report
