"""Every row of docs/errors.md, triggered: the API raises the documented exception with the
documented message, exactly (placeholders such as <path> match any text).

The table is the contract; this module holds one trigger per row and fails when a row has no
trigger, a trigger has no row, or a message differs from the table.
"""
from __future__ import annotations

import functools
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from unittest import mock

import numpy as np
import pytest

import reliability_support as support
from aotsnn.components.somas.exponential import ExponentialSoma
from aotsnn.components.sources import PoissonSource, SpikeGenerator
from aotsnn.components.synapses.conductance import ExponentialSynapse
from aotsnn.components.synapses.dense import DenseSynapse
from aotsnn.export import ExportError, compile_network
from aotsnn.network import Network
from aotsnn.runtime import ArtifactError, load
from aotsnn.runtime.format import sealed_manifest
from aotsnn.targets import TargetError

EE = dict(tau_decay=5.0, g_syn_bar=1.0, syn_rest=0.0)     # ngclearn's required synapse arguments
DOC = Path(__file__).resolve().parent.parent / "docs" / "errors.md"
EXCEPTIONS = {"ValueError": ValueError, "TypeError": TypeError, "ArtifactError": ArtifactError,
              "ExportError": ExportError, "FileNotFoundError": FileNotFoundError, "TargetError": TargetError}


@dataclass(frozen=True)
class Row:
    case: str
    api: str
    exception: str
    message: str

    def pattern(self) -> str:
        """The message as a regex: literal text, `<placeholder>` matches any text."""
        return "".join(".+" if part.startswith("<") else re.escape(part)
                       for part in re.split(r"(<[a-z ]+>)", self.message))


def documented_rows() -> list[Row]:
    """The rows of the table in docs/errors.md: case | API | exception | message, the message a
    code span (`text`, or `` text `` when it holds a backtick)."""
    rows = []
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("| `") else []
        if len(cells) == 4:
            case, api, exception, message = cells
            message = message[3:-3] if message.startswith("`` ") else message[1:-1]
            rows.append(Row(case.strip("`"), api, exception, message))
    return rows


class Context:
    """What the triggers need: a session of the small float32 artifact and a scratch directory."""

    def __init__(self, session, artifact: Path, tmp_path: Path) -> None:
        self.session, self.artifact, self.tmp = session, artifact, tmp_path
        self.state = session.init_state()
        self.inputs = support.inputs(5)

    def copy(self) -> Path:
        path = self.tmp / "copy.aot"
        shutil.copytree(self.artifact, path)
        return path

    def edited_copy(self, edit: Callable[[dict], None], *, reseal: bool) -> Path:
        path = self.copy()
        manifest = json.loads((path / "manifest.json").read_text())
        edit(manifest)
        if reseal:
            manifest.pop("manifest_sha256")
            (path / "manifest.json").write_bytes(sealed_manifest(manifest))
        else:
            (path / "manifest.json").write_text(json.dumps(manifest))
        return path

    def copy_with(self, file: str, data: bytes | None) -> Path:
        """A copy of the artifact with `file` replaced by `data` (None: removed)."""
        path = self.copy()
        if data is None:
            (path / file).unlink()
        else:
            (path / file).write_bytes(data)
        return path

    def run_with(self, **changes):
        return self.session.run(self.state, {**self.inputs, **changes})


def _network() -> Network:
    return Network("net", dt=0.1)


def _wired_network() -> Network:
    net = _network()
    net.add(ExponentialSynapse("ee", (4, 4), **EE))
    net.add(ExponentialSoma("exc", 5))
    return net


def _net_inputs(steps: int) -> dict[str, np.ndarray]:
    """float64 inputs (steps, 1, n) of the small network, for the JAX reference."""
    return {k: v.astype(np.float64) for k, v in support.inputs(steps).items()}


def _flipped(path: Path) -> bytes:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    return bytes(data)


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _other_state_file(ctx: Context) -> Path:
    other = support.artifact("float16")
    session = load(other)
    session.save_state(session.init_state(), ctx.tmp / "other.npz")
    return ctx.tmp / "other.npz"


def _set_in(manifest: dict, key: str, value) -> None:
    manifest[key] = value


def _with_fifo(directory: Path, name: str) -> Path:
    """`directory` with `name` replaced by a FIFO (reading it would block for ever)."""
    (directory / name).unlink(missing_ok=True)
    os.mkfifo(directory / name)
    return directory


def _params_with_full_mask(ctx: Context) -> bytes:
    from aotsnn.runtime.format import arrays_from_file, arrays_to_bytes

    params = arrays_from_file(ctx.artifact / "params.npz")
    return arrays_to_bytes({**params, "ee.mask": np.ones_like(params["ee.mask"])})


TRIGGERS: dict[str, Callable[[Context], object]] = {
    # components and network
    "soma-tau-negative": lambda ctx: ExponentialSoma("exc", 4, potential_tau=-5.0),
    "synapse-tau-negative": lambda ctx: ExponentialSynapse("ee", (4, 4), **{**EE, "tau_decay": -1.0}),
    "p-conn-zero": lambda ctx: ExponentialSynapse("ee", (4, 4), p_conn=0.0, **EE),
    "p-conn-above-one": lambda ctx: ExponentialSynapse("ee", (4, 4), p_conn=1.5, **EE),
    "param-not-finite": lambda ctx: ExponentialSoma("exc", 4, threshold=float("nan")),
    "param-shape": lambda ctx: ExponentialSynapse("ee", (4, 4), **{**EE, "g_syn_bar": np.ones(5)}),
    "network-dt": lambda ctx: Network("net", dt=float("inf")),
    "network-batch": lambda ctx: Network("net", dt=0.1, batch=0),
    "net-input-shape": lambda ctx: _network().add_input("drive", (4, -1)),
    "wire-shapes": lambda ctx: _wired_network().connect("ee.i", "exc.i"),
    "wire-unknown": lambda ctx: _wired_network().connect("inh.spikes", "ee.s"),
    "port-unwired": lambda ctx: _wired_network().init_state(),
    "net-param-unknown": lambda ctx: support.small_net().set_params(**{"exc.tau": 1.0}),
    "net-param-not-finite": lambda ctx: support.small_net().set_params(**{"ee.weights": np.full((40, 40), np.nan)}),
    "net-param-shape": lambda ctx: support.small_net().set_params(**{"ee.weights": np.zeros(3)}),
    "net-param-not-integer": lambda ctx: support.delay_net().set_params(**{"syn.delays": np.array([1.5, 2, 3, 1])}),
    "net-args-swapped": lambda ctx: support.small_net().run(support.small_net().params, _net_inputs(5), None),
    "net-args-leaves": lambda ctx: support.small_net().step(support.small_net().init_state(),
                                                            {"drive_exc": np.zeros((1, 40))}),
    "net-args-not-a-dict": lambda ctx: support.small_net().run(None, _net_inputs(5)),
    "net-run-time-axis": lambda ctx: support.small_net().run(support.small_net().init_state(),
                                                             {k: v[0] for k, v in _net_inputs(1).items()}),
    "net-run-no-inputs": lambda ctx: _sourced_network().run(_sourced_network().init_state()),
    "source-rate-negative": lambda ctx: PoissonSource("pois", 3, rate=-5.0),
    "source-seed": lambda ctx: PoissonSource("pois", 3, seed=-1),
    "release-probability": lambda ctx: DenseSynapse("rel", (3, 3), p_release_mean=1.5),
    "generator-two-spikes": lambda ctx: SpikeGenerator("gen", 4, [1, 1], [0.3, 0.31], dt=0.1),
    "generator-index": lambda ctx: SpikeGenerator("gen", 4, [4], [0.3], dt=0.1),
    "generator-too-long": lambda ctx: SpikeGenerator("gen", 4, [1], [1e6], dt=0.1),
    # compiling
    "target-unknown": lambda ctx: compile_network(support.small_net(), ctx.tmp / "x.aot", target="gpu9000"),
    "precision-unknown": lambda ctx: compile_network(support.small_net(), ctx.tmp / "x.aot", precision="int8"),
    "compile-not-a-network": lambda ctx: compile_network("ei_demo", ctx.tmp / "x.aot"),
    "compile-over-a-directory": lambda ctx: compile_network(support.small_net(), Path(__file__).parent),
    # loading an artifact
    "manifest-missing": lambda ctx: load(ctx.tmp),
    "manifest-not-json": lambda ctx: load(ctx.copy_with("manifest.json", b"{ not json")),
    "manifest-incomplete": lambda ctx: load(ctx.edited_copy(lambda m: m.pop("layout"), reseal=False)),
    "format-version": lambda ctx: load(ctx.edited_copy(lambda m: _set_in(m, "format_version", 1), reseal=False)),
    "target-machine": lambda ctx: load(ctx.edited_copy(lambda m: m["target"].update(machine="riscv64"), reseal=False)),
    # a flag no CPU has (a real one, amx_tile, failed on a Xeon that has it)
    "target-cpu": lambda ctx: load(ctx.edited_copy(lambda m: m["target"].update(mcpu="future9", cpu_flags=["future_vec"]),
                                                   reseal=True)),
    "target-gpu": lambda ctx: _without_gpu(lambda: load(ctx.edited_copy(
        lambda m: m["target"].update(name="cuda", device="cuda"), reseal=True))),
    "target-opencl": lambda ctx: _without_opencl(lambda: load(ctx.edited_copy(
        lambda m: m["target"].update(name="opencl", device="opencl"), reseal=True))),
    "manifest-edited": lambda ctx: load(ctx.edited_copy(lambda m: _set_in(m, "dt", 0.2), reseal=False)),
    "manifest-field": lambda ctx: load(ctx.edited_copy(lambda m: _set_in(m, "dt", -0.1), reseal=True)),
    "manifest-leaf": lambda ctx: load(ctx.edited_copy(lambda m: m["layout"]["state"][0].update(shape=[1, -40]),
                                                      reseal=True)),
    "manifest-input-kind": lambda ctx: load(ctx.edited_copy(lambda m: m["input_kinds"].update(drive_exc="voltage"),
                                                            reseal=True)),
    "file-missing": lambda ctx: load(ctx.copy_with("params.npz", None)),
    "file-corrupt": lambda ctx: load(ctx.copy_with("model.so", _flipped(ctx.artifact / "model.so"))),
    "file-truncated-unhashed": lambda ctx: load(ctx.copy_with("state.npz", b"PK\x03\x04"), check_hashes=False),
    "file-not-regular": lambda ctx: load(_with_fifo(ctx.copy(), "state.npz")),
    "file-too-large": lambda ctx: load(ctx.copy_with("params.npz", (ctx.artifact / "params.npz").read_bytes() + b"\0"),
                                       check_hashes=False),
    "library-truncated-unhashed": lambda ctx: load(ctx.copy_with("model.so", (ctx.artifact / "model.so").read_bytes()[:50000]),
                                                   check_hashes=False),
    "library-other-artifact": lambda ctx: load(support.resealed_copy(ctx.artifact, ctx.tmp / "forged.aot", files={
        "model.so": (support.artifact_with_dt(0.2) / "model.so").read_bytes()})),
    "library-leaf-order": lambda ctx: load(support.resealed_copy(ctx.artifact, ctx.tmp / "forged.aot", edit=support.swap_same_shape_state)),
    "params-topology-at-load": lambda ctx: load(ctx.copy_with("params.npz", _params_with_full_mask(ctx)), check_hashes=False),
    # running
    "inputs-not-a-dict": lambda ctx: ctx.session.run(ctx.state, ctx.inputs["drive_exc"]),
    "input-missing": lambda ctx: ctx.session.run(ctx.state, {"drive_exc": ctx.inputs["drive_exc"]}),
    "input-unknown": lambda ctx: ctx.run_with(drive=ctx.inputs["drive_exc"]),
    "input-not-an-array": lambda ctx: ctx.run_with(drive_exc=ctx.inputs["drive_exc"].tolist()),
    "input-dtype": lambda ctx: ctx.run_with(drive_exc=ctx.inputs["drive_exc"].astype(np.float64)),
    "input-dtype-bfloat16": lambda ctx: load(support.artifact("bfloat16")).run(
        load(support.artifact("bfloat16")).init_state(), support.inputs(5, "float32")),
    "input-no-time-axis": lambda ctx: ctx.run_with(drive_exc=np.array(60.0, np.float32)),
    "input-shape": lambda ctx: ctx.run_with(drive_exc=ctx.inputs["drive_exc"][:, :, :5]),
    "input-steps-differ": lambda ctx: ctx.run_with(drive_inh=ctx.inputs["drive_inh"][:3]),
    "input-nan": lambda ctx: ctx.run_with(drive_inh=np.where(ctx.inputs["drive_inh"] > 0, np.nan,
                                                             ctx.inputs["drive_inh"]).astype(np.float32)),
    "input-inf": lambda ctx: ctx.run_with(drive_exc=np.full_like(ctx.inputs["drive_exc"], np.inf)),
    "steps-negative": lambda ctx: ctx.session.run(ctx.state, ctx.inputs, steps=-1),
    "steps-bool": lambda ctx: ctx.session.run(ctx.state, ctx.inputs, steps=True),
    "steps-float": lambda ctx: ctx.session.run(ctx.state, ctx.inputs, steps=5.0),
    "steps-disagree": lambda ctx: ctx.session.run(ctx.state, ctx.inputs, steps=4),
    "run-too-large": lambda ctx: ctx.session.run(ctx.state, {k: np.broadcast_to(v[:1], (10**10, *v.shape[1:]))
                                                             for k, v in ctx.inputs.items()}),
    "run-no-inputs": lambda ctx: _sourced_session().run(_sourced_session().init_state(), {}),
    "record-not-a-list": lambda ctx: ctx.session.run(ctx.state, ctx.inputs, record="exc.spikes"),
    "record-unknown-output": lambda ctx: ctx.session.run(ctx.state, ctx.inputs, record=["exc.v"]),
    "record-kind": lambda ctx: ctx.session.run(ctx.state, ctx.inputs, record=["exc.spikes:hist"]),
    "record-twice": lambda ctx: ctx.session.run(ctx.state, ctx.inputs, record=["exc.spikes:rate", "exc.spikes:rate"]),
    "run-every": lambda ctx: ctx.session.run(ctx.state, ctx.inputs, record=["exc.spikes"], every=0),
    "run-chunk": lambda ctx: ctx.session.run(ctx.state, ctx.inputs, chunk=0),
    "run-stream-steps": lambda ctx: ctx.session.run(ctx.state, lambda start, n: ctx.inputs),
    "step-time-axis": lambda ctx: ctx.session.step(ctx.state, ctx.inputs),
    "state-not-a-dict": lambda ctx: ctx.session.run(None, ctx.inputs),
    "state-other-model": lambda ctx: ctx.session.run({"exc.v": ctx.state["exc.v_rel"]}, ctx.inputs),
    "state-dtype": lambda ctx: ctx.session.run({**ctx.state, "ee.g": ctx.state["ee.g"].astype(np.float16)},
                                               ctx.inputs),
    "state-shape": lambda ctx: ctx.session.run({**ctx.state, "exc.v_rel": ctx.state["exc.v_rel"][:, :3]},
                                               ctx.inputs),
    "state-nan": lambda ctx: ctx.session.run({**ctx.state, "exc.v_rel": np.full((1, 40), np.nan, np.float32)},
                                             ctx.inputs),
    # parameters at run time
    "set-param-unknown": lambda ctx: ctx.session.set_params(nope=1.0),
    "set-param-rule": lambda ctx: ctx.session.set_params(**{"exc.potential_tau": -5.0}),
    "set-param-rounds-to-zero": lambda ctx: load(support.artifact("float16")).set_params(
        **{"exc.spike_slope": 1e-9}),
    "set-param-float16-tau": lambda ctx: load(support.artifact("float16")).set_params(**{"exc.potential_tau": 1e-6}),
    "set-param-not-integer": lambda ctx: load(support.delay_artifact()).set_params(
        **{"syn.delays": np.array([1.5, 2, 3, 1])}),
    "set-param-topology": lambda ctx: ctx.session.set_params(**{"ee.mask": np.ones((40, 40))}),
    "set-param-nan": lambda ctx: ctx.session.set_params(**{"ee.weights": np.full((40, 40), np.nan)}),
    "set-param-overflow": lambda ctx: ctx.session.set_params(**{"ee.syn_rest": 1e40}),
    "set-param-shape": lambda ctx: ctx.session.set_params(**{"ee.weights": np.zeros((3, 3))}),
    "set-param-type": lambda ctx: ctx.session.set_params(**{"exc.threshold": "high"}),
    # saved state
    "save-state-directory": lambda ctx: ctx.session.save_state(ctx.state, ctx.tmp / "missing" / "s.npz"),
    "save-state-tree": lambda ctx: ctx.session.save_state({"exc.v_rel": ctx.state["exc.v_rel"]}, ctx.tmp / "s.npz"),
    "load-state-other-artifact": lambda ctx: ctx.session.load_state(_other_state_file(ctx)),
    "load-state-corrupt": lambda ctx: ctx.session.load_state(_written(ctx.tmp / "s.npz", b"PK\x03\x04 not a state")),
    "load-state-not-regular": lambda ctx: ctx.session.load_state(_with_fifo(ctx.tmp, "s.npz") / "s.npz"),
    "bundle-threads": lambda ctx: setattr(_bundle_session(), "threads", 2),
    "bundle-stepper": lambda ctx: _bundle_session().stepper(),
}


def _sourced_network() -> Network:
    """A network driven only by its own Poisson source (no inputs)."""
    net = Network("sourced", dt=0.1)
    net.add(PoissonSource("pois", 4, rate=100.0))
    net.record("pois.spikes")
    return net


@functools.lru_cache(maxsize=None)
def _sourced_session():
    """A host session of `_sourced_network` (compiled once per process)."""
    return load(compile_network(_sourced_network(), support._WORKDIR / "sourced.aot"))


def _bundle_session():
    """A session of the small network's `c` bundle (the harness; built once per process)."""
    from aotsnn.runtime.harness import load as load_bundle

    return load_bundle(support.c_bundle())


def _without_gpu(call):
    """`call()` as on a machine without the NVIDIA driver (the same message with or without a GPU)."""
    with mock.patch("aotsnn.runtime.artifact.cuda_devices", lambda: (0, "no NVIDIA driver (libcuda.so.1 not found)")):
        return call()


def _without_opencl(call):
    """`call()` as in a process whose AOTSNN_OPENCL_DEVICE names no device (with or without an ICD)."""
    why = "AOTSNN_OPENCL_DEVICE=9:9 names no device; present: 0:0 CPU (Portable Computing Language)"
    with mock.patch("aotsnn.runtime.artifact.choose_device", lambda: (None, why)):
        return call()


ROWS = [row for row in documented_rows() if not row.exception.startswith("exit")]   # exit N: tests/test_cli.py


def test_every_documented_case_has_a_trigger_and_back():
    cases = [row.case for row in ROWS]
    assert len(cases) == len(set(cases)), "duplicate case names in docs/errors.md"
    assert sorted(set(cases) ^ set(TRIGGERS)) == [], "docs/errors.md and TRIGGERS disagree"


@pytest.mark.parametrize("row", ROWS, ids=[row.case for row in ROWS])
def test_documented_error(row, session, small_artifact, tmp_path):
    ctx = Context(session, small_artifact, tmp_path)
    with pytest.raises(EXCEPTIONS[row.exception]) as caught:
        TRIGGERS[row.case](ctx)
    assert type(caught.value) is EXCEPTIONS[row.exception]
    assert re.fullmatch(row.pattern(), str(caught.value), flags=re.DOTALL), \
        f"{row.case}: got {str(caught.value)!r}, documented {row.message!r}"
