"""Wiring components into one pure step and a multi-step run.

A `Network` evaluates its components in the order they were added. A wire from a component
added *earlier* than its reader delivers this step's output; a wire from the reader itself or
from a later component delivers the previous step's output, which the network keeps in the
state as `"<component>.prev_<port>"` so that the state is complete (a run resumed from a saved
state continues bit-exactly). Several wires into one input port are summed (currents add).

All three trees are flat dicts keyed by leaf name: parameters `"<component>.<param>"`, state
`"<component>.<leaf>"`, inputs `"<input name>"`, outputs `"<component>.<port>"`. Arrays have a
leading batch axis; `run` adds a leading time axis to inputs and outputs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from aotsnn.components.base import Component, ParamRule, Tree


# Input ports that carry presynaptic spikes (synapses, layers, plasticity rules); an external input
# wired only into such ports is a spike train, anything else (a soma's `i`) a current.
SPIKE_PORTS = frozenset({"s", "x", "pre", "post", "pre_spike", "post_spike", "pre_tols"})


@dataclass(frozen=True)
class Wire:
    source: str        # "<component>.<port>" or an external input name
    target: str        # "<component>.<port>"


class Network:
    """Named components, external inputs and wires; yields pure `step` and `run` functions.

    Example:
        net = Network("ei", dt=0.1)
        net.add(ExponentialSynapse("ee", (80, 80), ...))
        net.add(ExponentialSoma("exc", 80))
        net.add_input("drive", (80,))
        net.connect("drive", "exc.i"); net.connect("ee.i", "exc.i")
        net.connect("exc.spikes", "ee.s"); net.connect("exc.v", "ee.v")
        net.record("exc.spikes")
    """

    def __init__(self, name: str, *, dt: float, batch: int = 1) -> None:
        if not name.isidentifier():
            raise ValueError(f"Network `name` must be a Python identifier, got {name!r}.")
        if not (isinstance(dt, (int, float)) and not isinstance(dt, bool) and 0 < dt < np.inf):
            raise ValueError(f"Network '{name}': `dt` must be a positive number of ms, got {dt!r}.")
        if not (isinstance(batch, (int, np.integer)) and not isinstance(batch, bool) and batch > 0):
            raise ValueError(f"Network '{name}': `batch` must be a positive integer, got {batch!r}.")
        self.name, self.dt, self.batch = name, float(dt), int(batch)
        self.components: dict[str, Component] = {}
        self.input_shapes: dict[str, tuple[int, ...]] = {}
        self.wires: list[Wire] = []
        self.recorded: list[str] = []
        self._params: dict[str, np.ndarray] = {}
        self._per_sample: list[str] = []           # parameters with one value per sample (see per_sample)

    # -- building ---------------------------------------------------------------------------
    def add(self, component: Component) -> Component:
        name = component.name
        if name in self.components or name in self.input_shapes:
            raise ValueError(f"Network '{self.name}': the name '{name}' is already used.")
        self.components[name] = component
        self._params.update({f"{name}.{k}": v for k, v in component.default_params().items()})
        return component

    def add_input(self, name: str, shape: tuple[int, ...]) -> None:
        if not name.isidentifier() or name in self.components or name in self.input_shapes:
            raise ValueError(f"Network '{self.name}': input name {name!r} is not an identifier or is taken.")
        if not (isinstance(shape, (tuple, list)) and all(isinstance(d, (int, np.integer)) and d > 0 for d in shape)):
            raise ValueError(f"Network '{self.name}': the shape of input '{name}' must be a tuple of positive "
                             f"integers, got {shape!r}.")
        self.input_shapes[name] = tuple(int(d) for d in shape)

    def connect(self, source: str, target: str) -> None:
        """Wire `source` ("comp.port" or an input name) into the input port `target` ("comp.port")."""
        target_port = self._port("input", target)
        shape = self.input_shapes[source] if source in self.input_shapes else self._port("output", source).shape
        if tuple(shape) != tuple(target_port.shape):
            raise ValueError(f"Network '{self.name}': cannot wire '{source}' (shape {tuple(shape)}) into "
                             f"'{target}' (shape {tuple(target_port.shape)}).")
        self.wires.append(Wire(source, target))

    def project(self, pre: str, synapse: str, post: str) -> None:
        """Wire a conductance synapse between two somas: pre.spikes -> synapse.s,
        post.v -> synapse.v (the driving force uses the post-synaptic potential) and
        synapse.i -> post.i. `pre` may also be an external input carrying spikes."""
        self.connect(pre if pre in self.input_shapes else f"{pre}.spikes", f"{synapse}.s")
        self.connect(f"{post}.v", f"{synapse}.v")
        self.connect(f"{synapse}.i", f"{post}.i")

    def record(self, *ports: str) -> None:
        """Make output ports ("comp.port") outputs of the network step."""
        for port in ports:
            self._port("output", port)
            if port not in self.recorded:
                self.recorded.append(port)

    def _port(self, direction: str, path: str):
        comp_name, _, port = path.partition(".")
        if comp_name not in self.components:
            raise ValueError(f"Network '{self.name}': no component '{comp_name}' (in '{path}'); "
                             f"components are: {', '.join(self.components) or 'none'}.")
        return self.components[comp_name].port(direction, port)

    # -- layout -----------------------------------------------------------------------------
    @property
    def params(self) -> dict[str, np.ndarray]:
        """Current parameter values (float64 numpy; a sparse synapse's indices int32), keyed
        "<component>.<param>"."""
        return dict(self._params)

    def set_params(self, **updates: Any) -> None:
        """Change parameters by leaf name (use `net.set_params(**{"exc.potential_tau": 10.0})`)."""
        merged = {**self._params}
        for key, value in updates.items():
            if key not in merged:
                raise ValueError(f"Network '{self.name}' has no parameter '{key}'.")
            if is_integer_leaf(merged[key]):         # synapse indices keep their integer dtype
                value = np.asarray(value)
                if value.dtype.kind not in "iu":
                    raise TypeError(f"Parameter '{key}' holds integer indices ({merged[key].dtype}), got "
                                    f"dtype {value.dtype}.")
                value = value.astype(merged[key].dtype)
            else:
                try:
                    value = np.asarray(value, dtype=np.float64)
                except (TypeError, ValueError) as exc:
                    raise TypeError(f"Parameter '{key}' must be real numbers, got {value!r}.") from exc
            if value.shape != merged[key].shape:
                raise ValueError(f"Parameter '{key}' must have shape {merged[key].shape}, got {value.shape}.")
            merged[key] = value
        self.validate_params(merged)
        self._params = merged

    def per_sample(self, *names: str) -> None:
        """Give each of the `batch` samples its own value of the parameters `names`.

        A parameter of shape S becomes (batch, *S), every sample starting from the value it had;
        sample b then steps with parameters[b] and its own state and inputs, as `batch` separate
        networks would (the step is vmapped over the batch axis). So one artifact runs several
        parameter sets per call: a sweep packs runs that differ only in these parameters into
        one call. Topology (connection masks) cannot vary per sample (kernels are specialised to
        it), and every state leaf must carry the batch axis (a learned weight matrix that the
        samples share cannot be split between parameter sets: build such a synapse with
        `per_sample_plasticity=True` and each sample learns its own, so one artifact sweeps
        learning rates).
        """
        topology = self.topology()
        for name in names:
            if name not in self._params:
                raise ValueError(f"Network '{self.name}' has no parameter '{name}'.")
            if name in topology:
                raise ValueError(f"Network '{self.name}': parameter '{name}' is topology (a connection mask the "
                                 "kernels are specialised to); it cannot differ between samples.")
            comp_name, _, leaf = name.partition(".")
            if leaf in self.components[comp_name].shared_params():
                raise ValueError(f"Network '{self.name}': parameter '{name}' of {self.components[comp_name].label} "
                                 "cannot differ between samples (the sparse synapse's kernel reads one weight "
                                 "vector for the batch); sweep it with one artifact call per value, or make the "
                                 "synapse dense (p_conn=...).")
        shared = self._shared_state_leaves()
        if names and shared:
            raise ValueError(f"Network '{self.name}': per-sample parameters need every state leaf to carry the "
                             f"batch axis, but {', '.join(shared[:3])} are shared by all samples (e.g. a learned "
                             "weight matrix); give plastic synapses per_sample_plasticity=True, or build one network per "
                             "parameter set.")
        for name in names:
            if name not in self._per_sample:
                self._params[name] = np.repeat(np.asarray(self._params[name])[None], self.batch, axis=0)
                self._per_sample.append(name)

    @property
    def per_sample_params(self) -> tuple[str, ...]:
        """The parameters with one value per sample (leading batch axis), in the order they were named."""
        return tuple(self._per_sample)

    def _shared_state_leaves(self) -> list[str]:
        """State leaves without the leading batch axis (the same array for every sample)."""
        shared = []
        for name, comp in self.components.items():
            one, two = comp.init_state(1), comp.init_state(2)
            shared += [f"{name}.{k}" for k, v in one.items()
                       if not (np.ndim(v) >= 1 and np.shape(v)[0] == 1 and np.shape(two[k]) == (2, *np.shape(v)[1:]))]
        return shared

    def param_rules(self) -> dict[str, ParamRule]:
        return {f"{name}.{k}": rule for name, comp in self.components.items()
                for k, rule in comp.param_rules().items()}

    def topology(self) -> dict[str, np.ndarray]:
        """Current values of the topology parameters ("<component>.<param>"), e.g. masks."""
        return {f"{name}.{k}": self._params[f"{name}.{k}"] for name, comp in self.components.items()
                for k in comp.topology_params()}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        for name, comp in self.components.items():
            prefix = f"{name}."
            comp.validate_params({k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)})

    def _order(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.components)}

    def carried_ports(self) -> list[str]:
        """Output ports read across a step boundary (by the same or an earlier component)."""
        order, carried = self._order(), []
        for wire in self.wires:
            src = wire.source.partition(".")[0]
            if src in order and order[src] >= order[wire.target.partition(".")[0]] and wire.source not in carried:
                carried.append(wire.source)
        return carried

    def check_complete(self) -> None:
        """Every input port of every component is wired."""
        wired = {w.target for w in self.wires}
        for name, comp in self.components.items():
            for port in comp.inputs:
                if f"{name}.{port.name}" not in wired:
                    raise ValueError(f"Network '{self.name}': input '{name}.{port.name}' of {comp.label} "
                                     "is not wired; connect it with net.connect(source, target).")
        if not self.recorded:
            raise ValueError(f"Network '{self.name}' records no outputs; call net.record('comp.port').")
        for port in self.recorded:
            comp_name, _, port_name = port.partition(".")
            if port_name in self.components[comp_name].init_state(1):
                raise ValueError(f"Network '{self.name}': the recorded output '{port}' has the name of a state leaf "
                                 f"of {self.components[comp_name].label}; an artifact names every leaf uniquely "
                                 f"(step.onnx), so rename that state leaf or that output port.")

    def input_kind(self, name: str) -> str:
        """"spikes" when the external input `name` feeds only spike ports (a synapse's `s`, a
        layer's `x`, a rule's `pre`/`post`... of components that do not spike themselves), else
        "current". The artifact's manifest records it, so `aotsnn run` drives each input sensibly."""
        targets = [w.target for w in self.wires if w.source == name]
        def carries_spikes(target: str) -> bool:
            comp, _, port = target.partition(".")
            outputs = {p.name for p in self.components[comp].outputs}
            return port in SPIKE_PORTS and "spikes" not in outputs
        return "spikes" if targets and all(carries_spikes(t) for t in targets) else "current"

    def init_state(self) -> dict[str, np.ndarray]:
        """The state at t = 0, keyed "<component>.<leaf>" and "<comp>.prev_<port>": float64 numpy,
        except integer leaves (a random generator's uint32 key, counters), which keep their dtype
        (one of INTEGER_STATE_DTYPES) here, in the artifact and in saved states."""
        self.check_complete()
        state: dict[str, np.ndarray] = {}
        for name, comp in self.components.items():
            for k, v in comp.init_state(self.batch).items():
                state[f"{name}.{k}"] = _state_leaf(comp, k, v)
        for port in self.carried_ports():
            comp_name, _, port_name = port.partition(".")
            key = f"{comp_name}.prev_{port_name}"
            if key in state:
                raise ValueError(f"{self.components[comp_name].label} has a state leaf that clashes with '{key}'.")
            state[key] = np.asarray(self.components[comp_name].initial_outputs(self.batch)[port_name], np.float64)
        return state

    def example_inputs(self, steps: int | None = None) -> dict[str, np.ndarray]:
        """Zero inputs of the right shapes: (batch, *shape), or (steps, batch, *shape)."""
        lead = (self.batch,) if steps is None else (steps, self.batch)
        return {k: np.zeros(lead + s) for k, s in self.input_shapes.items()}

    # -- semantics --------------------------------------------------------------------------
    def apply(self, state: Tree, inputs: Tree, params: Tree) -> tuple[Tree, Tree]:
        """One step with explicit parameters: the pure function that is exported.

        The argument order is that of `step`, `run` and `aotsnn.runtime.Session.run`: state,
        inputs, params (all three may be given by keyword). Returns (new state, recorded outputs).
        """
        self.check_arguments("apply", state, inputs, params)
        return self._apply(params, state, inputs)

    def _apply(self, params: Tree, state: Tree, inputs: Tree) -> tuple[Tree, Tree]:
        if not self._per_sample:
            return self._apply_shared(params, state, inputs, self.batch)
        shared = {k: v for k, v in params.items() if k not in self._per_sample}

        def one_sample(own: Tree, sample_state: Tree, sample_inputs: Tree) -> tuple[Tree, Tree]:
            batch_of_one = lambda tree: {k: v[None] for k, v in tree.items()}
            new, out = self._apply_shared({**shared, **own}, batch_of_one(sample_state), batch_of_one(sample_inputs), 1)
            return {k: v[0] for k, v in new.items()}, {k: v[0] for k, v in out.items()}

        return jax.vmap(one_sample)({k: params[k] for k in self._per_sample}, state, inputs)

    def _apply_shared(self, params: Tree, state: Tree, inputs: Tree, batch: int) -> tuple[Tree, Tree]:
        """One step of `batch` samples that share every parameter. An output that a component
        returns without the batch axis (a constant drive: the same for every sample) is
        broadcast to (batch, *port shape)."""
        carried = set(self.carried_ports())
        fresh: dict[str, Any] = {}
        new_state: dict[str, Any] = {}
        order = self._order()
        for name, comp in self.components.items():
            comp_inputs: dict[str, Any] = {}
            for wire in self.wires:
                comp_name, _, port = wire.target.partition(".")
                if comp_name != name:
                    continue
                value = self._source_value(wire.source, order[name], order, fresh, state, inputs)
                comp_inputs[port] = value if port not in comp_inputs else comp_inputs[port] + value
            prefix = f"{name}."
            comp_params = {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}
            comp_state = {k: state[prefix + k] for k in comp.init_state(1)}
            comp_new, comp_out = comp.step(comp_params, comp_state, comp_inputs, self.dt)
            new_state.update({prefix + k: v for k, v in comp_new.items()})
            shapes = {port.name: port.shape for port in comp.outputs}
            for k, value in comp_out.items():
                unbatched = k in shapes and jnp.ndim(value) == len(shapes[k])
                fresh[prefix + k] = jnp.broadcast_to(value, (batch, *shapes[k])) if unbatched else value
        for port in carried:
            comp_name, _, port_name = port.partition(".")
            new_state[f"{comp_name}.prev_{port_name}"] = fresh[port]
        return ({k: new_state[k] for k in state}, {k: fresh[k] for k in self.recorded})

    def state_names(self) -> list[str]:
        """The names of the state leaves (those of `init_state`), without building the arrays."""
        names = [f"{name}.{k}" for name, comp in self.components.items() for k in comp.init_state(1)]
        return names + [f"{p.partition('.')[0]}.prev_{p.partition('.')[2]}" for p in self.carried_ports()]

    def check_arguments(self, method: str, state: Any, inputs: Any, params: Any, *, time_axis: bool = False) -> None:
        """Refuse a call whose trees are not (state, inputs, params) of this network, naming the
        argument that is wrong: swapped arguments, a missing or unknown leaf, inputs of `run`
        without the time axis. Shapes are static under jax tracing, so this also runs traced."""
        groups = {"state": set(self.state_names()), "inputs": set(self.input_shapes), "params": set(self._params)}
        order = f"Network.{method}(state, inputs, params)"
        for arg, tree in (("state", state), ("inputs", inputs), ("params", params)):
            if not isinstance(tree, Mapping):
                raise TypeError(f"Network '{self.name}': `{arg}` of {order} must be a dict of leaf name -> array, "
                                f"got {type(tree).__name__}.")
            names = set(tree)
            if names == groups[arg]:
                continue
            other = next((g for g, expected in groups.items() if g != arg and expected and names == expected), None)
            if other is not None:
                what = {"params": "parameters"}.get(other, other)
                raise ValueError(f"Network '{self.name}': `{arg}` of {order} holds the network's {what} "
                                 f"(arguments swapped?); pass state, inputs, params in this order or by keyword.")
            missing, unknown = sorted(groups[arg] - names), sorted(names - groups[arg])
            detail = "; ".join(part for part in (f"missing {', '.join(missing[:4])}" if missing else "",
                                                 f"unknown {', '.join(unknown[:4])}" if unknown else "") if part)
            raise ValueError(f"Network '{self.name}': `{arg}` of {order} is not the network's {arg}: {detail}.")
        if time_axis:
            for name, shape in self.input_shapes.items():
                got = tuple(np.shape(inputs[name]))
                if len(got) != len(shape) + 2 or got[1:] != (self.batch, *shape):
                    raise ValueError(f"Network '{self.name}': input '{name}' of Network.run must have shape "
                                     f"(T, {', '.join(map(str, (self.batch, *shape)))}) for T steps, got {got}.")

    @staticmethod
    def _source_value(source, reader_index, order, fresh, state, inputs):
        comp_name, _, port = source.partition(".")
        if comp_name not in order:
            return inputs[source]
        if order[comp_name] < reader_index:
            return fresh[source]
        return state[f"{comp_name}.prev_{port}"]

    def step(self, state: Tree, inputs: Tree, params: Tree | None = None) -> tuple[Tree, Tree]:
        """One step, `apply` with the network's current parameters unless `params` is given."""
        params = self._params if params is None else params
        self.check_arguments("step", state, inputs, params)
        return self._apply(params, state, inputs)

    def run(self, state: Tree, inputs: Tree | None = None, params: Tree | None = None, *,
            steps: int | None = None) -> tuple[Tree, Tree]:
        """T steps with `lax.scan`; inputs (T, batch, ...) -> (final state, outputs (T, batch, ...)).

        A network without external inputs (driven by its own sources) runs `steps=T` with
        `inputs` None or {}; with inputs, `steps` may be given and must equal their T.
        """
        params = self._params if params is None else params
        inputs = {} if inputs is None else inputs
        self.check_arguments("run", state, inputs, params, time_axis=True)
        if not self.input_shapes:
            if steps is None:
                raise ValueError(f"Network '{self.name}' has no inputs: pass steps=T to Network.run.")
        elif steps is not None and steps != int(np.shape(next(iter(inputs.values())))[0]):
            raise ValueError(f"Network '{self.name}': steps={steps!r} but the inputs have "
                             f"{np.shape(next(iter(inputs.values())))[0]} steps.")
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0):
            raise ValueError(f"Network '{self.name}': `steps` must be a non-negative integer, got {steps!r}.")

        def body(carry, x):
            return self._apply(params, carry, {} if x is None else x)

        return jax.lax.scan(body, state, inputs if self.input_shapes else None,
                            length=None if self.input_shapes else int(steps))

    def cast(self, tree: Mapping[str, Any], dtype: Any) -> dict[str, Any]:
        """Every floating leaf of `tree` as a jnp array of `dtype`; integer leaves (random keys,
        counters) keep their own dtype."""
        return {k: jnp.asarray(v) if is_integer_leaf(v) else jnp.asarray(v, dtype=dtype) for k, v in tree.items()}


INTEGER_STATE_DTYPES = ("uint32", "int32")


def is_integer_leaf(value: Any) -> bool:
    """True for an integer (or bool) array: a leaf that no precision cast touches."""
    return np.dtype(getattr(value, "dtype", np.asarray(value).dtype)).kind in "iub"


def _state_leaf(comp: Component, name: str, value: Any) -> np.ndarray:
    """A component's initial state leaf: float64, or an integer array of an allowed dtype."""
    array = np.asarray(value)
    if array.dtype.kind in "iub":
        if array.dtype.name not in INTEGER_STATE_DTYPES:
            raise ValueError(f"In {comp.label}: the state leaf `{name}` has dtype {array.dtype}; integer state leaves "
                             f"must be one of {INTEGER_STATE_DTYPES} (make it .astype(np.uint32), or float).")
        return array
    return np.asarray(array, np.float64)
