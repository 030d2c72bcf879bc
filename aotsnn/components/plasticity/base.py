"""Plastic synapses: a weight structure plus a learning rule, learning inside the compiled step.

A plastic synapse is a *structure* (how the weights carry the input `x` to the output `out`: dense,
patched, convolution) combined with a *rule* (how the weights change: Hebbian, BCM, STDP, ...).
The structure is an ordinary synapse class; `PlasticSynapse` is a mixin placed before it:

    class HebbianSynapse(PlasticSynapse, WeightCorrelation, DenseSynapse):
        rule_type = Hebbian

Learning runs inside the step, so a compiled network updates its weights on the device:

- With `learning=True` (the default) the weights (and, for rules that learn them, the biases)
  are STATE leaves, next to the rule's own state (optimizer moments, thresholds, eligibility):
  the runtime's `run`, `save_state` and `load_state` carry them. The connection mask stays a
  parameter (topology, fixed at compile time) and is re-applied after every update, so a pruned
  synapse never regrows. The rule's
  constants (learning rates, bounds, time constants) are parameters: run-time inputs.
- With `learning=False` the same class compiles for inference only: the weights are PARAMETERS
  again (as in a static synapse, so `W*mask` is computed once per `run` call), the rule adds no
  state and no parameters, and its ports stay (wired as in the learning network, their values
  unused). Train with `learning=True`, then `set_params(**{"<name>.weights": trained})` on the
  frozen artifact: the leaf name is the same in both.

Order of one step: the output is computed with the weights from before the step, then the
weights are updated from the rule's ports (whatever the network delivers there this step: a
wire from a component added later carries its previous-step value).

Where the weights live across a batch:

- By default (`per_sample_plasticity=False`) the `batch` samples share ONE weight matrix: the
  learned leaves have the structure's shape (n_in, n_out), every sample's output uses it, and
  the update is driven by the batch-summed product (dense: pre.T @ post over all samples); rules
  that reduce over the batch otherwise do so too (BCM's threshold follows the batch mean of
  post^2, MSTDPET uses the batch mean of its modulator). The rule's own state is shared as well.
- With `per_sample_plasticity=True` each sample learns its own weights: every learned leaf and
  every leaf of the rule's state gets a leading batch axis, (batch, *shape), and sample b evolves
  exactly as a batch-1 network fed with sample b's inputs would. The step is that batch-1 step
  vmapped over the batch axis (no rule needs code of its own), so the artifact's products become
  batched (one matrix per sample). Sparse synapses (`connectivity=`) are refused: their kernels
  read one weight vector for the whole batch. With it, `Network.per_sample` can give each sample
  its own learning rate (one artifact sweeps rule parameters).

Structures provide `correlate(params, pre, post)`: the Hebbian product for their geometry, i.e. the
gradient of sum(post * forward(pre; W)) with respect to W (dense: pre.T @ post, summed over the
batch; convolution: the kernel-gradient correlation), and `bias_correlate(post)`, the sum of
`post` over every axis but the last.
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from aotsnn.components.base import ParamRule, Port, Tree
from aotsnn.components.synapses.csr import csr_correlate

WEIGHT_BOUND = ParamRule(low=0.0)
POSITIVE_BOUND = ParamRule(low=0.0, low_open=True)


@dataclass(frozen=True)
class Rule(ABC):
    """A learning rule: its ports, run-time parameters, state and weight update.

    Subclasses are frozen dataclasses whose fields are the rule's constructor options. Fields
    named by `runtime_params()` become parameters of the artifact (the field value is the
    default); the others fix the structure of the computation (changing them recompiles).
    """

    learns_biases: ClassVar[bool] = False

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def check(self, label: str) -> None:
        """Validate the structural options; raise ValueError naming `label` and the option."""

    @abstractmethod
    def ports(self, pre_shape: tuple[int, ...], post_shape: tuple[int, ...]) -> tuple[Port, ...]:
        """The rule's input ports, given the per-sample shapes of the synapse's input and output."""

    @abstractmethod
    def runtime_params(self) -> dict[str, float]:
        """Names and default values of the rule's run-time parameters (all scalars)."""

    def param_rules(self) -> dict[str, ParamRule]:
        return {}

    def init_state(self, leaves: dict[str, np.ndarray], batch: int,
                   post_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        """The rule's own state leaves at t = 0 (besides the learned `leaves`)."""
        return {}

    @abstractmethod
    def update(self, host: Any, params: Tree, state: Tree, inputs: Tree, dt: float) -> Tree:
        """New values of the learned leaves (weights before the mask) and of the rule's state.

        `host` is the synapse: it provides `correlate`, `bias_correlate`, `keep_topology` and
        `learned_leaves`;
        `params` are the synapse's parameters (mask included), `state` its state before the step.
        """


class PlasticSynapse:
    """Mixin that makes a synapse structure plastic with `rule_type`; see the module docstring.

    Constructor: the structure's arguments, the rule's options (fields of `rule_type`) as keyword
    arguments, `learning` (True: learn inside the step; False: inference only) and
    `per_sample_plasticity` (False: the batch shares one weight matrix, updated by the batch-summed
    product; True: each sample learns its own weights and rule state, leaves (batch, *shape)).
    """

    rule_type: ClassVar[type[Rule]]
    rule_defaults: ClassVar[dict[str, Any]] = {}     # a structure's own defaults for rule options
    rule: Rule | None = None
    learning: bool = False
    per_sample_plasticity: bool = False

    def __init__(self, name: str, *args: Any, learning: bool = True, per_sample_plasticity: bool = False,
                 **kwargs: Any) -> None:
        options = {**self.rule_defaults, **{k: kwargs.pop(k) for k in self.rule_type.option_names() if k in kwargs}}
        super().__init__(name, *args, **kwargs)
        if not isinstance(learning, bool):
            raise ValueError(f"In {self.label}: `learning` must be True or False, got {learning!r}.")
        self._check_per_sample(per_sample_plasticity, learning)
        missing = [f.name for f in dataclasses.fields(self.rule_type)
                   if f.default is dataclasses.MISSING and f.name not in options]
        if missing:
            raise TypeError(f"In {self.label}: missing required option(s) {', '.join(map(repr, missing))} "
                            f"of the {self.rule_type.__name__} rule.")
        rule = self.rule_type(**options)
        rule.check(self.label)
        pre, post = self.port("input", "x").shape, self.port("output", "out").shape
        self.inputs = tuple(self.inputs) + rule.ports(pre, post)
        self._structure_state_keys = tuple(super().init_state(1))
        self.rule, self.learning, self.per_sample_plasticity = rule, learning, per_sample_plasticity
        if learning:
            learned = ("weights", "biases") if rule.learns_biases and "biases" in self._params else ("weights",)
            self._learned = {k: self._params.pop(k) for k in learned}
            self._params.update({k: np.asarray(float(v)) for k, v in rule.runtime_params().items()})
        self.validate_params(self._params)

    def _check_per_sample(self, per_sample: Any, learning: bool) -> None:
        if not isinstance(per_sample, bool):
            raise ValueError(f"In {self.label}: `per_sample_plasticity` must be True or False, got {per_sample!r}.")
        if per_sample and not learning:
            raise ValueError(f"In {self.label}: `per_sample_plasticity=True` needs `learning=True`: a frozen synapse "
                             "has no learned weights to keep per sample (its weights are parameters; give each sample "
                             f"its own with Network.per_sample('{self.name}.weights')); drop per_sample_plasticity.")
        if per_sample and getattr(self, "sparse", False):
            raise ValueError(f"In {self.label}: `per_sample_plasticity=True` is not supported for a sparse synapse "
                             "(`connectivity=`): its kernels read one weight vector for the whole batch; make the "
                             "synapse dense (p_conn=...), or drop per_sample_plasticity.")

    @property
    def learned_leaves(self) -> tuple[str, ...]:
        """State leaves the rule changes (weights, and biases for Hebbian rules); () when frozen."""
        return tuple(self._learned) if self.learning else ()

    def param_rules(self) -> dict[str, ParamRule]:
        rules = super().param_rules()
        if self.learning:
            rules.update(self.rule.param_rules())
        return rules

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        state = super().init_state(batch)
        if self.learning:
            own = {k: v.copy() for k, v in self._learned.items()}
            post_shape = self.port("output", "out").shape
            own.update(self.rule.init_state(self._learned, 1 if self.per_sample_plasticity else batch, post_shape))
            if self.per_sample_plasticity:          # `batch` copies of a batch-1 synapse's learned state
                own = {k: np.repeat(np.asarray(v)[None], batch, axis=0) for k, v in own.items()}
            state.update(own)
        return state

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        if not self.learning:
            return super().step(params, state, inputs, dt)
        if not self.per_sample_plasticity:
            return self._learning_step(params, state, inputs, dt)
        structure = self._structure_state_keys

        def one_sample(sample_state: Tree, sample_inputs: Tree) -> tuple[Tree, Tree]:
            """The batch-1 step of one sample: structure state and inputs as a batch of one, the
            learned and rule leaves as they are (per sample, without the batch axis)."""
            sample_state = {k: v[None] if k in structure else v for k, v in sample_state.items()}
            new, out = self._learning_step(params, sample_state, {k: v[None] for k, v in sample_inputs.items()}, dt)
            return {k: v[0] if k in structure else v for k, v in new.items()}, {k: v[0] for k, v in out.items()}

        return jax.vmap(one_sample)(state, inputs)

    def _learning_step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        """One learning step of the samples in `state` and `inputs` together (they share the weights)."""
        view = {**params, **{k: state[k] for k in self._learned}}
        structure_state = {k: state[k] for k in self._structure_state_keys}
        new_state, outputs = super().step(view, structure_state, inputs, dt)
        learned = self.rule.update(self, params, state, inputs, dt)
        learned["weights"] = self.keep_topology(params, learned["weights"])
        return {**new_state, **learned}, outputs


class WeightCorrelation:
    """The Hebbian product of a weighted synapse (aotsnn.components.synapses.dense), summed over
    the batch: dense W (n_in, n_out): pre.T @ post; sparse (per-synapse weights, `connectivity=`):
    pre.T @ post read at the synapses, c[s] = sum_b pre[b, pre(s)] post[b, post(s)]
    (aotsnn.components.synapses.csr.csr_correlate). The bias product is sum(post, batch)."""

    def correlate(self, params: Tree, pre: Any, post: Any) -> Any:
        if self.sparse:
            return csr_correlate(pre, post, params["pre_start"], params["post_index"])
        return pre.T @ post

    @staticmethod
    def bias_correlate(post: Any) -> Any:
        return jnp.sum(post, axis=0)


def soft_bound(dW: Any, W: Any, w_bound: Any) -> Any:
    """dW * (w_bound - |W|) where w_bound > 0, dW unchanged where w_bound = 0 (no bound)."""
    return jnp.where(w_bound > 0, dW * (w_bound - jnp.abs(W)), dW)


def decay_term(W: Any, tau_w: Any) -> Any:
    """W / tau_w where tau_w > 0, 0 where tau_w = 0 (no decay). tau_w is in steps, as in ngclearn."""
    return jnp.where(tau_w > 0, W / jnp.where(tau_w > 0, tau_w, 1.0), 0.0)
