"""Sweeps on Dask: a real LocalCluster of worker processes runs 16 runs of the demo network and
gets exactly what Session.run gives one run at a time; a worker killed mid-sweep loses nothing;
an interrupted sweep resumes; bad runs are recorded, not fatal; workers need only the runtime."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("distributed")
from dask.distributed import Client, LocalCluster  # noqa: E402

from aotsnn.demo import build_ei_network, demo_inputs  # noqa: E402
from aotsnn.export import compile_network  # noqa: E402
from aotsnn.runtime import load  # noqa: E402
from aotsnn.sweep import make_plan, plan_from_toml, run_sweep  # noqa: E402

STEPS = 200
GRID = {"exc.potential_tau": [4.0, 5.0, 6.0, 8.0], "ee.g_syn_bar": [0.02, 0.04]}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    net = build_ei_network()
    return net, compile_network(net, tmp_path_factory.mktemp("sweep") / "ei.aot")


def one_by_one(path, net, plan):
    """Every run of `plan` with Session.run in this process: run id -> exc spike counts."""
    session, counts = load(path), {}
    defaults = session.params
    for run in plan.runs:
        session.set_params(**{**defaults, **run.params})
        inputs = {k: v.astype(np.float32) for k, v in demo_inputs(net, plan.steps, seed=run.seed).items()}
        _, out = session.run(session.init_state(), inputs)
        counts[run.run_id] = out["exc.spikes"].sum(axis=0)[0]
    return counts


def assert_table_matches(table, plan, expected):
    assert list(table["status"]) == ["ok"] * len(plan.runs)
    for row, run in enumerate(plan.runs):
        np.testing.assert_array_equal(table["exc.spikes"][row], expected[run.run_id], err_msg=str(run))
    assert len({table["exc.spikes"][row].sum() for row in range(len(plan.runs))}) > 4   # the runs differ


def test_a_local_cluster_sweep_equals_runs_one_by_one(demo, tmp_path):
    net, path = demo
    plan = make_plan(steps=STEPS, grid=GRID, seeds=2, monitors={"exc.spikes": "sum", "inh.spikes": "mean"})
    assert len(plan.runs) == 16
    table = run_sweep(path, plan, tmp_path / "out", workers=2, progress=False)
    assert_table_matches(table, plan, one_by_one(path, net, plan))
    assert table["inh.spikes"].shape == (16, 60) and table["param.exc.potential_tau"].shape == (16,)
    saved = np.load(tmp_path / "out" / "results.npz")
    np.testing.assert_array_equal(saved["exc.spikes"], table["exc.spikes"])
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert [r["id"] for r in index] == [r.run_id for r in plan.runs]


def test_a_worker_killed_mid_sweep_loses_nothing(demo, tmp_path):
    net, path = demo
    inputs = {"kind": "function", "function": "sweep_support:slow_gaussian", "delay": 0.4, "mean": 45.0,
              "std": 25.0}
    plan = make_plan(steps=STEPS, grid=GRID, seeds=2, inputs=inputs, monitors={"exc.spikes": "sum"})
    killed = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        pids = list(client.run(os.getpid).values())

        def kill_one_after_the_first_result():
            deadline = time.monotonic() + 120
            while not any((tmp_path / "out" / "runs").glob("*.npz")) and time.monotonic() < deadline:
                time.sleep(0.05)
            os.kill(pids[0], signal.SIGKILL)
            killed.append(len(list((tmp_path / "out" / "runs").glob("*.npz"))))

        killer = threading.Thread(target=kill_one_after_the_first_result)
        killer.start()
        table = run_sweep(path, plan, tmp_path / "out", client=client, progress=False)
        killer.join()
        assert pids[0] not in client.run(os.getpid).values()           # that process is gone
    assert killed and killed[0] < len(plan.runs), "the worker must die while runs are left"
    assert_table_matches(table, plan, one_by_one(path, net, plan))


@pytest.fixture(scope="module")
def in_process_client():
    """One worker running 4 tasks at once in threads (each thread must keep a Session of its own)."""
    with Client(processes=False, n_workers=1, threads_per_worker=4, dashboard_address=":0") as client:
        yield client


def test_an_interrupted_sweep_resumes_with_only_the_missing_runs(demo, tmp_path, in_process_client):
    net, path = demo
    plan = make_plan(steps=STEPS, grid={"exc.potential_tau": [4.0, 6.0]}, seeds=[3, 4, 5],
                     monitors={"exc.spikes": "sum"})
    first = run_sweep(path, plan, tmp_path / "out", client=in_process_client, progress=False)
    assert_table_matches(first, plan, one_by_one(path, net, plan))
    files = sorted((tmp_path / "out" / "runs").glob("*.npz"))
    kept = {f: f.stat().st_mtime_ns for f in files[2:]}
    for f in files[:2]:
        f.unlink()
    files[2].write_bytes(files[2].read_bytes()[:100])                # a file cut short by a crash
    del kept[files[2]]
    again = run_sweep(path, plan, tmp_path / "out", client=in_process_client, progress=False)
    assert {f: f.stat().st_mtime_ns for f in kept} == kept           # finished runs were not redone
    for key in first:
        np.testing.assert_array_equal(again[key], first[key])
    other = build_ei_network(n_exc=40, n_inh=10)
    with pytest.raises(ValueError, match="holds results of another artifact"):
        run_sweep(compile_network(other, tmp_path / "other.aot"), plan, tmp_path / "out", client=in_process_client)


def test_bad_runs_are_recorded_with_their_parameters_not_fatal(demo, tmp_path, in_process_client):
    net, path = demo
    plan = make_plan(steps=STEPS, param_sets=[{"exc.potential_tau": 5.0}, {"exc.potential_tau": -1.0},
                                              {"exc.resistance": 1e38}], monitors={"exc.spikes": "sum"})
    table = run_sweep(path, plan, tmp_path / "out", client=in_process_client, progress=False)
    assert list(table["status"]) == ["ok", "failed", "non-finite"]
    assert np.isnan(table["exc.spikes"][1:]).all() and table["exc.spikes"][0].sum() > 0
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert "potential_tau" in index[1]["message"] and index[2]["params"] == {"exc.resistance": 1e38}


def test_plans_are_checked_and_read_from_toml(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text('steps = 100\nseeds = 3\n[grid]\n"exc.potential_tau" = [4.0, 5.0]\n'
                    '[monitors]\n"exc.spikes" = "sum"\n')
    plan = plan_from_toml(grid)
    assert len(plan.runs) == 6 and plan.steps == 100 and plan.monitors == {"exc.spikes": "sum"}
    assert plan_from_toml(grid, steps=50).runs[0].run_id != plan.runs[0].run_id     # ids cover steps
    for bad, match in ((dict(steps=0), "steps"), (dict(steps=5, seeds=[-1]), "seeds"),
                       (dict(steps=5, grid={"a": []}), "grid entry 'a'"),
                       (dict(steps=5, monitors={"a": "max"}), "monitor 'a'"),
                       (dict(steps=5, param_sets=[{"a": 1}, {"a": 1}]), "repeat")):
        with pytest.raises(ValueError, match=match):
            make_plan(**bad)
    (tmp_path / "bad.toml").write_text("steps = 5\ncolour = 3\n")
    with pytest.raises(ValueError, match="unknown keys"):
        plan_from_toml(tmp_path / "bad.toml")


def test_the_worker_needs_only_the_runtime(demo):
    _, path = demo
    script = f"""
import sys
from aotsnn.sweep.worker import artifact_blob, artifact_digest, run_pack
path = {str(path)!r}
runs = [{{"run_id": "a", "params": {{}}, "seed": 0}}]
out = run_pack(artifact_digest(path), artifact_blob(path), runs, 50, {{"kind": "gaussian", "mean": 45.0, "std": 25.0}},
               {{"exc.spikes": "sum"}})
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'tvm', 'onnx', 'dask', 'distributed'))
assert not heavy, heavy
print(out[0]["status"], int(out[0]["values"]["exc.spikes"].sum()))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "ok" and int(result.stdout.split()[1]) >= 0


def test_the_sweep_command_prints_rates_and_plots_them(demo, tmp_path, capsys):
    from aotsnn.cli import main

    _, path = demo
    grid = tmp_path / "grid.toml"
    grid.write_text('steps = 100\nseeds = 2\n[grid]\n"exc.potential_tau" = [4.0, 6.0]\n'
                    '"ee.g_syn_bar" = [0.02, 0.04]\n[monitors]\n"exc.spikes" = "sum"\n')
    code = main(["sweep", str(path), "--grid", str(grid), "-o", str(tmp_path / "out"), "--workers", "1",
                 "--plot", str(tmp_path / "rates.png"), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "8 runs: 8 ok" in printed and printed.count(" Hz over 2 run(s)") == 4
    assert (tmp_path / "rates.png").stat().st_size > 10_000
    assert main(["sweep", str(path), "--grid", str(tmp_path / "missing.toml"), "-o", str(tmp_path / "o2")]) == 2
    assert "cannot read the grid file" in capsys.readouterr().err


def test_a_batched_artifact_runs_seeds_side_by_side_with_the_same_results(demo, tmp_path, in_process_client):
    """With batch 4 the 8 runs below are 2 tasks of 4 seeds each; every sample equals its run
    made alone on the batch-1 artifact."""
    net, path = demo
    batched = compile_network(build_ei_network(batch=4), tmp_path / "ei4.aot")
    plan = make_plan(steps=STEPS, grid={"exc.potential_tau": [4.0, 6.0]}, seeds=4, monitors={"exc.spikes": "sum"})
    table = run_sweep(batched, plan, tmp_path / "out", client=in_process_client, progress=False)
    assert_table_matches(table, plan, one_by_one(path, net, plan))


def test_per_sample_parameters_pack_a_grid_into_one_call(demo, tmp_path, in_process_client):
    """With exc.potential_tau and ee.g_syn_bar per sample (Network.per_sample) and batch 4, the 8
    parameter sets of GRID run as 2 calls of 4 (one seed); each sample equals its run made alone on
    the batch-1 artifact, bit for bit."""
    from aotsnn.sweep.engine import packs
    from aotsnn.sweep.worker import pack_params

    net, path = demo
    per_sample = build_ei_network(batch=4)
    per_sample.per_sample("exc.potential_tau", "ee.g_syn_bar")
    batched = compile_network(per_sample, tmp_path / "ei4ps.aot")
    plan = make_plan(steps=STEPS, grid=GRID, seeds=1, monitors={"exc.spikes": "sum"})
    session = load(batched)
    assert session.artifact.manifest["per_sample_params"] == ["exc.potential_tau", "ee.g_syn_bar"]
    assert [len(p) for p in packs(list(plan.runs), 4, ("exc.potential_tau", "ee.g_syn_bar"))] == [4, 4]
    stacked = pack_params(session, session.params, [{"params": r.params} for r in plan.runs[:3]])
    assert stacked["exc.potential_tau"].tolist() == [4.0, 4.0, 5.0, 4.0]       # 3 runs, the spare repeats the first
    table = run_sweep(batched, plan, tmp_path / "out", client=in_process_client, progress=False)
    assert_table_matches(table, plan, one_by_one(path, net, plan))
    with pytest.raises(ValueError, match="per sample: a run gives one sample's value"):
        pack_params(session, session.params, [{"params": {"exc.potential_tau": [1.0, 2.0]}}])
