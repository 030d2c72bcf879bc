"""Weighted synapses: the shared weight/mask/bias machinery and DenseSynapse (ngclearn semantics)."""
from __future__ import annotations

import zlib
from typing import Any

import jax.numpy as jnp
import numpy as np

from aotsnn.components import random
from aotsnn.components.base import Component, ParamRule, Port, Tree, as_param, check_param
from aotsnn.components.connectivity import Connections, Connectivity, check_connections
from aotsnn.components.initializers import DEFAULT_WEIGHT_INIT, Initializer
from aotsnn.components.synapses.csr import csr_matmul

P_CONN_RULE = ParamRule(low=0.0, high=1.0, low_open=True)
P_RELEASE_RULE = ParamRule(low=0.0, high=1.0)
RELEASE_JITTER = 0.1          # ngclearn's hard-coded spread of the per-input release probabilities
MASK_RULE = ParamRule(low=0.0, high=1.0)


class WeightedSynapse(Component):
    """A synapse with weights W of shape (n_in, n_out), a kept connection mask and optional biases.

    `p_conn` in (0, 1] draws a Bernoulli mask once at construction from `seed`; a given `mask`
    (alias `weight_mask`, ngclearn's names in DenseSynapse/Hebbian and in the STDP classes; shape
    (n_in, n_out), values in [0, 1]) multiplies it. The mask is a parameter of the artifact (topology:
    fixed once compiled) and every use of W is W*mask, so a pruned synapse never conducts (and
    plasticity can never regrow it). `resist_scale` (alias `g_conduct_factor`) scales the
    output; `bias_init` None disables biases. Parameters: weights (n_in, n_out), mask
    (n_in, n_out), resist_scale (), biases (n_out,) when enabled.

    Weights, mask and biases come from `numpy.random.default_rng(seed)` in that order; anything a
    subclass draws (delays, STP resources) comes from its own stream `self.rng(purpose)`, so
    enabling such a feature never changes the weights drawn for a seed.

    Sparse: with `connectivity=` (aotsnn.components.connectivity: FixedInDegree(k),
    FixedOutDegree(k), Bernoulli(p), Explicit(pre, post)) the synapse keeps a list of synapses
    instead of matrices, so its memory grows with the synapses, not with n_in * n_out:
    weights (n_syn,) (one per synapse, in CSR order, drawn by `weight_init.synapses`), and the
    topology pre_start (n_in + 1,) and post_index (n_syn,) int32 (no mask: an absent synapse
    is absent). out = x @ W for the W whose non-zeros are the synapses
    (aotsnn.components.synapses.csr). Connections, weights and biases come from the seed's
    generator in that order. `p_conn` and `mask` are the dense alternative and are refused here.
    """

    def __init__(self, name: str, shape: tuple[int, int], *, weight_init: Initializer = DEFAULT_WEIGHT_INIT,
                 bias_init: Initializer | None = None, resist_scale: float | None = None,
                 g_conduct_factor: float | None = None, p_conn: float = 1.0, mask: Any | None = None,
                 weight_mask: Any | None = None, connectivity: Connectivity | None = None,
                 seed: int = 0) -> None:
        super().__init__(name)
        if (not isinstance(shape, (tuple, list)) or len(shape) != 2
                or not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape)):
            raise ValueError(f"In {self.label}: `shape` must be (n_in, n_out) of positive integers, got {shape!r}.")
        if resist_scale is not None and g_conduct_factor is not None:
            raise ValueError(f"In {self.label}: `g_conduct_factor` is an alias of `resist_scale`; give one of "
                             f"them, got resist_scale={resist_scale!r} and g_conduct_factor={g_conduct_factor!r}.")
        if resist_scale is None:
            resist_scale = 1.0 if g_conduct_factor is None else g_conduct_factor
        check_param(self.label, "p_conn", p_conn, P_CONN_RULE)
        if mask is not None and weight_mask is not None:
            raise ValueError(f"In {self.label}: `weight_mask` is an alias of `mask`; give one of them.")
        self.shape = (int(shape[0]), int(shape[1]))
        self.seed = seed
        rng = np.random.default_rng(seed)
        self.sparse = connectivity is not None
        if self.sparse:
            self._init_sparse(connectivity, weight_init, bias_init, resist_scale, p_conn, mask, weight_mask, rng)
            return
        weights = weight_init(self.shape, rng)
        drawn = (rng.uniform(size=self.shape) < p_conn).astype(np.float64) if p_conn < 1 else np.ones(self.shape)
        given = mask if weight_mask is None else weight_mask
        if given is not None:
            given = np.asarray(given, dtype=np.float64)
            if given.shape != self.shape:
                raise ValueError(f"In {self.label}: `{'mask' if weight_mask is None else 'weight_mask'}` must have "
                                 f"the weights' shape {self.shape}, got {given.shape}.")
            check_param(self.label, "mask", given, MASK_RULE)
            drawn = drawn * given
        self._params = {"weights": weights * drawn, "mask": drawn, "resist_scale": np.asarray(float(resist_scale))}
        if bias_init is not None:
            self._params["biases"] = bias_init((self.shape[1],), rng)
        self.validate_params(self._params)

    def _init_sparse(self, connectivity: Connectivity, weight_init: Initializer, bias_init: Initializer | None,
                     resist_scale: float, p_conn: float, mask: Any, weight_mask: Any, rng: np.random.Generator) -> None:
        if not isinstance(connectivity, Connectivity):
            raise ValueError(f"In {self.label}: `connectivity` must be a rule of aotsnn.components.connectivity "
                             f"(FixedInDegree, FixedOutDegree, Bernoulli, Explicit), got {connectivity!r}.")
        if p_conn != 1.0 or mask is not None or weight_mask is not None:
            raise ValueError(f"In {self.label}: `p_conn` and `mask` belong to the dense synapse; with "
                             "`connectivity=` give the sparsity there (e.g. Bernoulli(p) for p_conn=p).")
        try:
            connections = connectivity.draw(*self.shape, rng)
        except ValueError as exc:
            raise ValueError(f"In {self.label}: {exc}") from None
        if connections.n_synapses == 0:
            raise ValueError(f"In {self.label}: {connectivity.describe()} drew no synapse for shape {self.shape}; "
                             "connect more pairs, or leave the synapse out.")
        fan_in = connections.in_degree(self.shape[1])[connections.post_index]
        self._params = {"weights": weight_init.synapses(fan_in, rng), "pre_start": connections.pre_start,
                        "post_index": connections.post_index, "resist_scale": np.asarray(float(resist_scale))}
        if bias_init is not None:
            self._params["biases"] = bias_init((self.shape[1],), rng)
        self.validate_params(self._params)

    @property
    def n_synapses(self) -> int:
        """Synapses kept: n_syn when sparse, else the non-zeros of the mask."""
        return int(self._params["post_index"].shape[0] if self.sparse else np.count_nonzero(self._params["mask"]))

    def synapse_pairs(self, params: Tree | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(pre, post) indices of every synapse, in the order of the per-synapse weights (sparse only)."""
        params = self._params if params is None else params
        if not self.sparse:
            raise ValueError(f"{self.label} is dense: its synapses are the non-zeros of `mask`.")
        connections = Connections(np.asarray(params["pre_start"]), np.asarray(params["post_index"]))
        return connections.pre_index(), connections.post_index

    def validate_params(self, params) -> None:
        super().validate_params(params)
        if self.sparse and "pre_start" in params and "post_index" in params:
            check_connections(self.label, params["pre_start"], params["post_index"], *self.shape)
            if "weights" in params and np.shape(params["weights"])[-1:] != np.shape(params["post_index"]):
                raise ValueError(f"In {self.label}: `weights` must have one value per synapse, "
                                 f"({np.shape(params['post_index'])[0]},), got shape {np.shape(params['weights'])}.")

    def rng(self, purpose: str) -> np.random.Generator:
        """An independent generator for `purpose` ("delays", "resources"), reproducible from the seed."""
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(zlib.crc32(purpose.encode()),)))

    def param_rules(self) -> dict[str, ParamRule]:
        return {} if self.sparse else {"mask": MASK_RULE}

    def topology_params(self) -> tuple[str, ...]:
        return ("pre_start", "post_index") if self.sparse else ("mask",)

    def default_params(self) -> dict[str, np.ndarray]:
        return dict(self._params)

    def effective_weights(self, params: Tree) -> Any:
        """W * mask: what conducts, whatever a user or a learning rule wrote into W (sparse: the
        per-synapse weights, since only existing synapses are stored)."""
        return params["weights"] if self.sparse else params["weights"] * params["mask"]

    def shared_params(self) -> tuple[str, ...]:
        return ("weights",) if self.sparse else ()

    def keep_topology(self, params: Tree, W: Any) -> Any:
        """W with the pruned entries zeroed again (W * mask) after a learning rule changed it; a
        sparse synapse stores only existing synapses, so W is kept as it is."""
        return W if self.sparse else W * params["mask"]

    def transmit(self, params: Tree, x: Any) -> Any:
        """x @ (W * mask), the raw weighted input of shape (batch, n_out) (sparse: over the synapses)."""
        if self.sparse:
            return csr_matmul(x, params["weights"], params["pre_start"], params["post_index"], n_out=self.shape[1])
        return x @ self.effective_weights(params)

    def add_bias(self, params: Tree, out: Any) -> Any:
        return out + params["biases"] if "biases" in params else out


class DenseSynapse(WeightedSynapse):
    r"""Dense synapse: out = (x_delayed @ (W*mask)) * resist_scale + b.

    Without delays (`max_delay_steps=0`, the default) x_delayed = x and the synapse is stateless.
    With `max_delay_steps=D >= 1`, input i reaches the weights `delays[i]` steps after it entered:
    x_delayed[t, i] = x[t - delays[i], i] (zero before anything arrived), delays[i] in 1..D.
    `delays` (n_in,) [steps] is a run-time parameter (integer-valued, rounded in the step); given
    by the user (a scalar or one per input) or drawn uniformly from 1..D, reproducibly from `seed`.

    The in-flight inputs are the state leaf `delay_buffer` (batch, D, n_in), a ring buffer kept
    in delivery order: at the start of a step, slot k holds what arrives k steps later. Each step
    reads slot 0, rotates by one (slot k+1 -> k, the last slot emptied) and adds x into slot
    delays[i]-1 of input i. The read and write positions are thus fixed, so the state needs no
    index leaf and is complete. Inputs: x (n_in,). Outputs: out (n_out,) (pA into a soma).

    Stochastic release (ngclearn's `p_release_mean`, without its crash): with p_release_mean
    < 1, input i has a release probability p_i ~ U(p_release_mean - 0.1, p_release_mean + 0.1)
    clipped to [0, 1] (drawn once from `seed`; the run-time parameter `p_release` (n_in,)), and
    in every step its (delayed) input is transmitted only if released:

    $$x_i \leftarrow x_i\,[u_i < p_i],\qquad u_i \sim U[0, 1)\ \text{(float32, threefry)}$$

    one draw per input and batch row per step, shared by all its synapses (a presynaptic
    release site). The key is the state leaf `key` (batch, 2) uint32 (aotsnn.components.random).
    p_release_mean = 1 (the default) is deterministic and adds nothing. Within 0.1 of 0 or 1 the
    clip moves the mean of p_i away from p_release_mean (0 gives p_i = max(U(-0.1, 0.1), 0)).
    """

    max_delay_steps: int = 0
    stochastic: bool = False       # p_release_mean < 1: stochastic release

    def __init__(self, name: str, shape: tuple[int, int], *, max_delay_steps: int = 0,
                 delays: Any | None = None, p_release_mean: float = 1.0, **kwargs: Any) -> None:
        super().__init__(name, shape, **kwargs)
        n_in = self.shape[0]
        self.inputs = (Port("x", (n_in,)),)
        self.outputs = (Port("out", (self.shape[1],)),)
        check_param(self.label, "p_release_mean", p_release_mean, P_RELEASE_RULE)
        self.stochastic = float(p_release_mean) < 1.0
        if self.stochastic:
            random.check_seed(self.label, self.seed)
            p = self.rng("release").uniform(p_release_mean - RELEASE_JITTER, p_release_mean + RELEASE_JITTER, n_in)
            self._params["p_release"] = np.clip(p, 0.0, 1.0)
        if not (isinstance(max_delay_steps, (int, np.integer)) and max_delay_steps >= 0):
            raise ValueError(f"In {self.label}: `max_delay_steps` must be an integer >= 0 (0: no delays), "
                             f"got {max_delay_steps!r}.")
        self.max_delay_steps = int(max_delay_steps)
        if self.max_delay_steps == 0:
            self.validate_params(self._params)
            if delays is not None:
                raise ValueError(f"In {self.label}: `delays` needs `max_delay_steps` >= 1 (the buffer length), "
                                 "got max_delay_steps=0.")
            return
        if delays is None:
            delays = self.rng("delays").integers(1, self.max_delay_steps + 1, size=n_in)
        delays = as_param(self.label, "delays", delays, (n_in,))
        self._params["delays"] = np.broadcast_to(delays, (n_in,)).copy()
        self.validate_params(self._params)

    def param_rules(self) -> dict[str, ParamRule]:
        rules = super().param_rules()
        if self.stochastic:
            rules["p_release"] = P_RELEASE_RULE
        if self.max_delay_steps:
            rules["delays"] = ParamRule(low=1.0, high=float(self.max_delay_steps), unit="steps", integer=True)
        return rules

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        state = {"key": random.initial_keys(self.seed, batch, self.name)} if self.stochastic else {}
        if self.max_delay_steps:
            state["delay_buffer"] = np.zeros((batch, self.max_delay_steps, self.shape[0]))
        return state

    def delay(self, params: Tree, buffer: Any, x: Any) -> tuple[Any, Any]:
        """(what arrives this step (batch, n_in), the buffer after this step)."""
        arriving = buffer[:, 0, :]
        rotated = jnp.concatenate([buffer[:, 1:, :], jnp.zeros_like(buffer[:, :1, :])], axis=1)
        slots = jnp.arange(self.max_delay_steps, dtype=buffer.dtype)[:, None]
        lands = (slots == jnp.round(params["delays"])[None, :] - 1).astype(buffer.dtype)   # (D, n_in)
        return arriving, rotated + x[:, None, :] * lands

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        x, new_state = inputs["x"], {}
        if self.max_delay_steps:
            x, new_state["delay_buffer"] = self.delay(params, state["delay_buffer"], x)
        if self.stochastic:
            new_state["key"], u = random.uniform(state["key"], (self.shape[0],))
            x = x * (u < jnp.asarray(params["p_release"], jnp.float32)).astype(x.dtype)
        out = self.add_bias(params, self.transmit(params, x) * params["resist_scale"])
        return new_state, {"out": out}


class StaticSynapse(DenseSynapse):
    """A DenseSynapse without plasticity (ngclearn's StaticSynapse). In aotsnn plasticity lives in
    its own classes, so this is the same computation as DenseSynapse under its ngclearn name."""
