"""The `aotsnn` command as a newcomer meets it: every subcommand's error paths (one line,
`aotsnn: error: ...`, exit status 2; the rows of docs/errors.md whose exception column is
`exit 2`), exit status 1 for a failed check, help texts with defaults, generated inputs by kind,
progress that does not change results, and the plots.

Artifacts are shared: the small float32 artifact of tests/reliability_support.py and one
spike-driven artifact compiled once for this module.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import reliability_support as support
from aotsnn.cli import main, parser
from test_reliability_errors import documented_rows

CLI_ROWS = [row for row in documented_rows() if row.exception.startswith("exit")]


class Ctx:
    """What the triggers need: artifacts, a scratch directory, and small files made on demand."""

    def __init__(self, small: Path, spiking: Path, tmp: Path) -> None:
        self.small, self.spiking, self.tmp = str(small), str(spiking), tmp

    def npz(self, name: str = "x.npz", **arrays) -> str:
        path = self.tmp / name
        np.savez(path, **arrays)
        return str(path)

    def inputs(self, steps: int = 5, **changes) -> str:
        made = {k: v.astype(np.float64) for k, v in support.inputs(steps).items()}
        return self.npz(**{**made, **changes})

    def file(self, name: str, text: str = "x") -> str:
        (self.tmp / name).write_text(text)
        return str(self.tmp / name)

    def run(self, steps: int = 5) -> str:
        out = str(self.tmp / "run.npz")
        assert main(["run", self.small, "--steps", str(steps), "--save-outputs", out]) == 0
        return out


TRIGGERS: dict[str, Callable[[Ctx], list[str]]] = {
    # any subcommand: argparse
    "cli-argument-missing": lambda c: ["run"],
    "cli-option-unknown": lambda c: ["info", c.small, "--bogus"],
    "cli-option-value": lambda c: ["run", c.small, "--steps", "many"],
    "cli-command-unknown": lambda c: ["simulate"],
    # run
    "cli-artifact-missing": lambda c: ["run", str(c.tmp / "nothing.aot")],
    "cli-steps-with-inputs": lambda c: ["run", c.small, "--inputs", c.inputs(5), "--steps", "10"],
    "cli-rate-with-inputs": lambda c: ["run", c.small, "--inputs", c.inputs(5), "--rate", "10"],
    "cli-inputs-file-missing": lambda c: ["run", c.small, "--inputs", str(c.tmp / "none.npz")],
    "cli-inputs-not-npz": lambda c: ["run", c.small, "--inputs", c.file("bad.npz", "not a zip")],
    "cli-inputs-leaves": lambda c: ["run", c.small, "--inputs", c.npz(drive_exc=np.zeros((5, 1, 40)))],
    "cli-inputs-shape": lambda c: ["run", c.small, "--inputs", c.inputs(5, drive_exc=np.zeros((5, 40)))],
    "cli-inputs-lengths": lambda c: ["run", c.small, "--inputs", c.inputs(5, drive_inh=np.zeros((3, 1, 10)))],
    "cli-inputs-nan": lambda c: ["run", c.small, "--inputs", c.inputs(5, drive_inh=np.full((5, 1, 10), np.nan))],
    "cli-steps-negative": lambda c: ["run", c.small, "--steps", "-3"],
    "cli-rate-no-spike-inputs": lambda c: ["run", c.small, "--rate", "10"],
    "cli-current-no-current-inputs": lambda c: ["run", c.spiking, "--current", "10"],
    "cli-rate-range": lambda c: ["run", c.spiking, "--rate", "20000"],
    "cli-current-syntax": lambda c: ["run", c.small, "--current", "lots"],
    "cli-current-order": lambda c: ["run", c.small, "--current", "70:20"],
    "cli-nir-options-missing": lambda c: ["compile", c.file("m.nir"), "--integration", "euler", "-o",
                                          str(c.tmp / "n.aot")],
    "cli-nir-options-not-nir": lambda c: ["compile", "cli_models:spiking", "--dt", "1e-4", "-o", str(c.tmp / "n.aot")],
    "cli-nir-unreadable": lambda c: ["compile", c.file("bad.nir", "not hdf5"), "--dt", "1e-4", "--integration", "euler",
                                     "--reset", "zero", "-o", str(c.tmp / "n.aot")],
    "cli-save-state-directory": lambda c: ["run", c.small, "--save-state", str(c.tmp / "missing" / "s.npz")],
    "cli-save-outputs-is-directory": lambda c: ["run", c.small, "--save-outputs", str(c.tmp)],
    "cli-trace-without-save": lambda c: ["run", c.small, "--trace", "exc.v_rel"],
    "cli-trace-unknown": lambda c: ["run", c.small, "--trace", "exc.v", "--save-outputs", str(c.tmp / "o.npz")],
    "cli-state-file-corrupt": lambda c: ["run", c.small, "--state", c.file("s.npz", "PK not a state")],
    # plot
    "cli-plot-file-missing": lambda c: ["plot", str(c.tmp / "none.npz")],
    "cli-plot-not-a-run": lambda c: ["plot", c.npz(a=np.zeros(3))],
    "cli-plot-units-syntax": lambda c: ["plot", c.run(), "--units", "first"],
    "cli-plot-units-range": lambda c: ["plot", c.run(), "--units", "0,99", "-o", str(c.tmp / "p")],
    "cli-plot-out-is-file": lambda c: ["plot", c.run(), "-o", c.file("taken")],
    # compile
    "cli-model-syntax": lambda c: ["compile", "cli_models", "-o", str(c.tmp / "m.aot")],
    "cli-model-import": lambda c: ["compile", "cli_models:nope", "-o", str(c.tmp / "m.aot")],
    "cli-model-not-a-network": lambda c: ["compile", "cli_models:not_a_network", "-o", str(c.tmp / "m.aot")],
    "cli-model-raises": lambda c: ["compile", "cli_models:broken", "-o", str(c.tmp / "m.aot")],
    "cli-model-unwired": lambda c: ["compile", "cli_models:unwired", "-o", str(c.tmp / "m.aot")],
    "cli-target-unknown": lambda c: ["compile", "cli_models:small", "--target", "gpu9000", "-o", str(c.tmp / "m.aot")],
    "cli-precision-unknown": lambda c: ["compile", "cli_models:small", "--precision", "int8", "-o", str(c.tmp / "m.aot")],
    "cli-compile-over-a-directory": lambda c: ["compile", "cli_models:small", "-o", str(Path(__file__).parent)],
    "cli-compile-output-parent": lambda c: ["compile", "cli_models:small", "-o", str(c.tmp / "no" / "m.aot")],
    "cli-no-cache-bundle": lambda c: ["compile", "cli_models:small", "--target", "c", "--no-cache",
                                      "-o", str(c.tmp / "m.aot")],
    # verify
    "cli-verify-nothing": lambda c: ["verify"],
    "cli-verify-no-model": lambda c: ["verify", c.small, "--steps", "5"],
    "cli-verify-other-model": lambda c: ["verify", c.small, "--model", "aotsnn.demo:build_ei_network", "--steps", "5"],
    "cli-verify-out-dir": lambda c: ["verify", c.small, "--out-dir", str(c.tmp / "arts")],
    "cli-verify-targets-tolerance": lambda c: ["verify", "--targets", "host", "--rtol", "1e-3"],
    "cli-verify-targets-empty": lambda c: ["verify", "--targets", ","],
    "cli-verify-targets-unknown": lambda c: ["verify", "--targets", "host,gpu9000"],
    "cli-verify-plot-is-file": lambda c: ["verify", c.small, "--plot", c.file("taken")],
    # demo, info, targets, sweep
    "cli-demo-steps": lambda c: ["demo", "--steps", "0"],
    "cli-demo-out": lambda c: ["demo", "--out", c.file("taken")],
    "cli-info-not-an-artifact": lambda c: ["info", str(c.tmp)],
    "cli-targets-argument": lambda c: ["targets", "host"],
    "cli-sweep-grid-missing": lambda c: ["sweep", c.small, "-o", str(c.tmp / "out")],
    "cli-sweep-plot-needs-sum": lambda c: ["sweep", c.small, "--grid", c.file(
        "mean.toml", 'steps = 5\nseeds = 1\n[monitors]\n"exc.spikes" = "mean"\n'), "-o", str(c.tmp / "o"),
        "--workers", "1", "--plot", str(c.tmp / "r.png"), "--quiet"],
    "cli-sweep-artifact-missing": lambda c: ["sweep", str(c.tmp / "nothing.aot"), "--grid", c.file("g.toml"),
                                             "-o", str(c.tmp / "out")],
}


@pytest.fixture(scope="module")
def spiking_artifact(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "spiking.aot"
    assert main(["compile", "cli_models:spiking", "-o", str(path)]) == 0
    return path


@pytest.fixture()
def ctx(spiking_artifact, tmp_path) -> Ctx:
    return Ctx(support.artifact("float32"), spiking_artifact, tmp_path)


def test_every_documented_cli_error_has_a_trigger_and_back():
    cases = [row.case for row in CLI_ROWS]
    assert len(cases) == len(set(cases)) and sorted(set(cases) ^ set(TRIGGERS)) == []


@pytest.mark.parametrize("row", CLI_ROWS, ids=[row.case for row in CLI_ROWS])
def test_documented_cli_error(row, ctx, capsys):
    argv = TRIGGERS[row.case](ctx)
    capsys.readouterr()
    status = main(argv)
    err = capsys.readouterr().err
    assert status == int(row.exception.split()[1]), f"{row.case}: exit status {status}, stderr {err!r}"
    assert err.count("\n") == 1 and err.startswith("aotsnn: error: "), f"{row.case}: not one line: {err!r}"
    message = err[len("aotsnn: error: "):].rstrip("\n")
    assert re.fullmatch(row.pattern(), message, flags=re.DOTALL), f"{row.case}: got {message!r}, documented {row.message!r}"


def test_debug_adds_the_traceback(ctx, capsys):
    assert main(["--debug", "run", ctx.small, "--current", "70:20"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.splitlines()[-1].startswith("aotsnn: error: --current")


def test_an_internal_error_is_one_line_with_status_3(capsys):
    from aotsnn.commands.errors import EXIT_INTERNAL, guarded

    assert guarded(lambda: [][1], debug=False) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("aotsnn: error: internal error, IndexError: ")


def test_a_failed_check_exits_with_status_1(ctx, capsys):
    assert main(["verify", ctx.small, "--model", "cli_models:small", "--steps", "5", "--rtol", "0", "--atol", "0"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_help_shows_exit_statuses_help_and_defaults_of_every_option():
    top = parser()
    commands = next(a for a in top._actions if a.__class__.__name__ == "_SubParsersAction").choices
    assert set(commands) == {"demo", "compile", "run", "plot", "verify", "info", "targets", "sweep"}
    for name, sub in commands.items():
        text = sub.format_help()
        for action in sub._actions:
            assert action.help, f"aotsnn {name} {action.option_strings or action.dest}: no help text"
            if action.option_strings and action.default not in (None, False, "==SUPPRESS==") and not action.required:
                assert f"(default: {action.default})" in " ".join(text.split()), f"aotsnn {name} {action.dest}"
        if name != "sweep":                 # aotsnn.sweep.cli keeps its own parser
            assert "exit status:" in text and "2  bad usage or bad input" in text
    assert main(["--help"]) == 0


def test_generated_inputs_follow_each_inputs_kind(ctx, tmp_path, capsys):
    manifest = json.loads((Path(ctx.spiking) / "manifest.json").read_text())
    assert manifest["input_kinds"] == {"pre": "spikes"}
    small = json.loads((Path(ctx.small) / "manifest.json").read_text())
    assert small["input_kinds"] == {"drive_exc": "current", "drive_inh": "current"}
    assert main(["run", ctx.spiking, "--steps", "400", "--rate", "200", "--save-outputs", str(tmp_path / "r.npz")]) == 0
    out = capsys.readouterr().out
    assert "pre: Bernoulli spikes at 200 Hz (p = 0.02 per step)" in out
    spikes = np.load(tmp_path / "r.npz")["outputs/post.spikes"]
    assert np.isfinite(spikes).all() and 0 < spikes.sum() < spikes.size / 2     # the drive makes some spikes
    assert main(["run", ctx.small, "--steps", "300", "--current", "45"]) == 0
    out = capsys.readouterr().out
    assert "constant current 45" in out and "NOT FINITE" not in out and re.search(r"exc\.spikes: [1-9]\d* spikes", out)


def test_run_records_only_the_monitors_asked_for(ctx, tmp_path, capsys):
    """aotsnn run --record: counts, rates per bin and events, equal to a plain run's outputs."""
    assert main(["run", ctx.small, "--steps", "300", "--current", "45", "--save-outputs", str(tmp_path / "all.npz")]) == 0
    spikes = np.load(tmp_path / "all.npz")["outputs/exc.spikes"]
    capsys.readouterr()
    assert main(["run", ctx.small, "--steps", "300", "--current", "45", "--record",
                 "exc.spikes:count,exc.spikes:rate,exc.spikes:events", "--every", "100",
                 "--save-outputs", str(tmp_path / "mon.npz")]) == 0
    out = capsys.readouterr().out
    assert f"exc.spikes:count: {int(spikes.sum())} spikes" in out and "3 bins of 10 ms" in out
    recorded = np.load(tmp_path / "mon.npz")
    np.testing.assert_array_equal(recorded["exc.spikes:count"], spikes.sum(axis=0))
    assert len(recorded["exc.spikes:events"]) == int(spikes.sum()) > 0
    assert recorded["exc.spikes:rate"].shape == (3, 1)
    assert main(["run", ctx.small, "--record", "exc.nothing:count"]) == 2
    assert "'exc.nothing' is not an output" in capsys.readouterr().err


def test_an_artifact_without_input_kinds_reads_its_inputs_as_currents(ctx, tmp_path, capsys):
    from aotsnn.runtime import load
    from aotsnn.runtime.manifest import input_kinds

    old = support.resealed_copy(Path(ctx.spiking), tmp_path / "old.aot", edit=lambda m: m.pop("input_kinds"))
    assert input_kinds(load(old).artifact.manifest) == {"pre": "current"}
    assert main(["run", str(old), "--steps", "10", "--current", "0:1"]) == 0
    assert "pre: current uniform in [0, 1)" in capsys.readouterr().out


def test_a_run_in_chunks_with_progress_equals_one_call(ctx):
    import io

    from rich.console import Console
    from rich.progress import Progress

    from aotsnn.commands.recording import record
    from aotsnn.runtime import load

    session = load(ctx.small)
    inputs = {k: v.astype(np.float64) for k, v in support.inputs(120).items()}
    once = record(session, session.init_state(), inputs, 120, trace=[], progress=None)
    with Progress(console=Console(file=io.StringIO(), force_terminal=True)) as progress:
        chunked = record(session, session.init_state(), inputs, 120, trace=[], progress=progress)
        assert progress.tasks[0].completed == 120 and len(progress.tasks) == 1
    for name in once.outputs:
        assert once.outputs[name].tobytes() == chunked.outputs[name].tobytes()
    for name in once.final_state:
        assert once.final_state[name].tobytes() == chunked.final_state[name].tobytes()


def test_progress_is_quiet_when_stdout_is_not_a_terminal():
    from aotsnn.commands.progress import progress_bar

    with progress_bar(False) as progress:          # pytest captures stdout: not a terminal
        assert progress is None


def _png(path: Path) -> bytes:
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 10_000, path
    return data


def test_plots_of_a_run_and_of_a_check(ctx, tmp_path, capsys, monkeypatch):
    run = ctx.run(steps=200)
    assert main(["plot", run, "-o", str(tmp_path / "p"), "--units", "0,7"]) == 0
    printed = capsys.readouterr().out
    assert f"plot: {tmp_path / 'p' / 'raster.png'} (2 panels)" in printed       # exc.spikes, inh.spikes
    assert f"plot: {tmp_path / 'p' / 'traces.png'} (2 panels)" in printed       # exc.v_rel, inh.v_rel
    for name in ("raster.png", "traces.png"):
        _png(tmp_path / "p" / name)
    assert main(["verify", ctx.small, "--model", "cli_models:small", "--steps", "60", "--plot",
                 str(tmp_path / "v")]) == 0
    printed = capsys.readouterr().out
    n_leaves = 12              # 10 state leaves and 2 outputs of the small network
    assert f"plot: {tmp_path / 'v' / 'errors.png'} ({n_leaves} panels)" in printed
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == ["errors.png", "raster.png", "traces.png"]
    assert main(["verify", "--targets", "host", "--model", "cli_models:small", "--steps", "30", "--plot",
                 str(tmp_path / "m")]) == 0
    printed = capsys.readouterr().out
    assert f"plot: {tmp_path / 'm' / 'targets.png'} (1 panel)" in printed
    assert f"plot: {tmp_path / 'm' / 'errors-host.png'} ({n_leaves} panels)" in printed
    for name in ("targets.png", "errors-host.png"):
        _png(tmp_path / "m" / name)


def test_the_target_heat_map_marks_targets_that_did_not_run(tmp_path):
    from aotsnn.plots import target_heatmap

    errors = np.array([[1e-7, np.nan], [0.0, np.nan], [3e-5, np.nan]])
    figure = target_heatmap(["a.v", "a.g", "a.spikes"], ["host", "cortex-m"], errors, tmp_path / "t.png", title="t")
    assert figure.panels == 1 and _png(figure.path)
