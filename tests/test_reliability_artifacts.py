"""Corrupt artifacts and state files are refused on load with an ArtifactError, never a crash.

Deterministic cases (a flipped bit, a truncation, a removal of every file) and a hypothesis fuzz
of the loader. The fuzz runs in a subprocess (this file, run as a script), so a segfault in the
loader or the library fails the test instead of killing pytest. Every outcome must be a
successful load, possible only when nothing hashed changed, or ArtifactError / ValueError /
TypeError.
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from aotsnn.runtime import ArtifactError, load
from aotsnn.runtime.format import HASHED_FILES, MANIFEST, sealed_manifest

ALLOWED = (ArtifactError, ValueError, TypeError)
FUZZ_EXAMPLES = 200
DERANDOMIZE = os.environ.get("AOTSNN_FUZZ_RANDOM") is None    # set it to explore beyond the fixed examples


@pytest.fixture()
def artifact_copy(small_artifact, tmp_path):
    path = tmp_path / "copy.aot"
    shutil.copytree(small_artifact, path)
    return path


@pytest.mark.parametrize("name", [MANIFEST, *HASHED_FILES])
@pytest.mark.parametrize("where", [0.0, 0.5, 0.999])
def test_a_flipped_bit_anywhere_is_refused(artifact_copy, name, where):
    data = bytearray((artifact_copy / name).read_bytes())
    data[int(where * (len(data) - 1))] ^= 0x04
    (artifact_copy / name).write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=name.replace(".", r"\.")):
        load(artifact_copy)


@pytest.mark.parametrize("name", [MANIFEST, *HASHED_FILES])
@pytest.mark.parametrize("keep", [0, 0.5])
def test_a_truncated_file_is_refused(artifact_copy, name, keep):
    data = (artifact_copy / name).read_bytes()
    (artifact_copy / name).write_bytes(data[:int(keep * len(data))])
    with pytest.raises(ArtifactError, match=name.replace(".", r"\.")):
        load(artifact_copy)


@pytest.mark.parametrize("name", [MANIFEST, *HASHED_FILES])
def test_a_missing_file_is_refused(artifact_copy, name):
    (artifact_copy / name).unlink()
    with pytest.raises(ArtifactError, match=name.replace(".", r"\.")):
        load(artifact_copy)


def test_the_initial_state_is_read_once_at_load(artifact_copy):
    """A session keeps working if its directory is changed or removed after load."""
    session = load(artifact_copy)
    expected = session.init_state()
    shutil.rmtree(artifact_copy)
    state = session.init_state()
    for name in expected:
        np.testing.assert_array_equal(state[name], expected[name])
    session.run(state, {n: np.zeros((3, *s), np.float32) for n, s in session.layout["inputs"]})


def _spikes(session, steps: int = 300) -> np.ndarray:
    inputs = {n: np.random.default_rng(3).normal(45.0, 25.0, (steps, *s)).astype(np.float32)
              for n, s in session.layout["inputs"]}
    return session.run(session.init_state(), inputs)[1]["exc.spikes"]


def test_an_artifact_recompiled_at_the_same_path_runs_its_new_library(small_artifact, tmp_path):
    """The loader matches libraries by path; a private copy per load defeats that (dt is baked
    into the library: the old one would run under the new manifest)."""
    from aotsnn.demo import build_ei_network
    from aotsnn.export import compile_network

    path = tmp_path / "net.aot"
    shutil.copytree(small_artifact, path)
    before = load(path)
    old_spikes = _spikes(before)
    slower = build_ei_network(n_exc=40, n_inh=10, p_conn=0.3, dt=0.2)
    compile_network(slower, path)
    after = load(path)
    assert after.dt == 0.2
    expected = _spikes(load(compile_network(slower, tmp_path / "fresh.aot")))
    np.testing.assert_array_equal(_spikes(after), expected)
    assert not np.array_equal(expected, old_spikes)
    np.testing.assert_array_equal(_spikes(before), old_spikes)


def test_overwriting_a_loaded_library_in_place_does_not_reach_the_session(small_artifact, tmp_path):
    """`cp new.so model.so` writes into the mapped file; the session runs its private copy.
    In a subprocess: were the mapping shared, the process would crash."""
    path = tmp_path / "net.aot"
    shutil.copytree(small_artifact, path)
    script = f"""
import numpy as np, aotsnn.runtime as rt
s = rt.load({str(path)!r})
x = {{n: np.full((400, *shape), 80.0, np.float32) for n, shape in s.layout["inputs"]}}
first = s.run(s.init_state(), x)[1]["exc.spikes"]
with open({str(path / "model.so")!r}, "r+b") as f:
    size = f.seek(0, 2); f.seek(0); f.write(b"\\xcc" * size)
second = s.run(s.init_state(), x)[1]["exc.spikes"]
assert np.array_equal(first, second) and first.sum() > 0
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_the_library_loads_in_place_where_no_private_copy_can_be_made(small_artifact, monkeypatch, tmp_path):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-directory"))
    session = load(small_artifact)
    assert _spikes(session).sum() > 0


def test_a_library_changed_between_check_and_load_is_refused(artifact_copy, monkeypatch):
    import aotsnn.runtime.session as session_module

    real = session_module.load_library

    def tampered(path, *args):
        path.write_bytes(path.read_bytes() + b"\0")      # after open_artifact hashed it
        return real(path, *args)

    monkeypatch.setattr(session_module, "load_library", tampered)
    with pytest.raises(ArtifactError, match="model.so changed after the artifact was checked"):
        load(artifact_copy)


def run_fuzz(mode: str, artifact: Path, workdir: Path) -> dict[str, int]:
    """Run the fuzz loop of `mode` in a fresh interpreter; its outcome counts."""
    result = subprocess.run([sys.executable, __file__, mode, str(artifact), str(workdir), str(FUZZ_EXAMPLES)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"fuzz process died (rc {result.returncode}):\n{result.stdout}\n{result.stderr[-4000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["bytes", "manifest", "state"])
def test_fuzzed_artifacts_never_crash_the_process(mode, small_artifact, tmp_path):
    counts = run_fuzz(mode, small_artifact, tmp_path)
    assert sum(counts.values()) >= FUZZ_EXAMPLES, counts
    assert counts.get("ArtifactError", 0) > FUZZ_EXAMPLES // 4, f"the fuzz should mostly hit refusals: {counts}"


def test_resealed_manifests_that_lie_about_dt_or_leaf_order_are_always_refused(small_artifact, tmp_path):
    """Sealed, with every file hash right: only model.so's own identity can tell (issue 22)."""
    counts = run_fuzz("lies", small_artifact, tmp_path)
    assert counts == {"ArtifactError": FUZZ_EXAMPLES}, counts


# -- the fuzz loops (run in a subprocess: `python test_reliability_artifacts.py MODE ARTIFACT DIR N`) --------

def _outcome(action, counts: Counter) -> object | None:
    """Call `action`; count its outcome; re-raise anything that is not an allowed refusal."""
    try:
        result = action()
    except ALLOWED as exc:
        counts[type(exc).__name__] += 1
        return None
    counts["loaded"] += 1
    return result


def _fuzz_bytes(artifact: Path, workdir: Path, examples: int) -> Counter:
    """Random bit flips, truncations, appended and zeroed bytes in any file of the artifact."""
    from hypothesis import given, settings, strategies as st

    work = workdir / "bytes.aot"
    shutil.copytree(artifact, work)
    originals = {name: (work / name).read_bytes() for name in (MANIFEST, *HASHED_FILES)}
    counts: Counter = Counter()

    @settings(max_examples=examples, database=None, derandomize=DERANDOMIZE, deadline=None)
    @given(st.data())
    def check(data):
        name = data.draw(st.sampled_from(sorted(originals)))
        original = originals[name]
        kind = data.draw(st.sampled_from(["flip", "truncate", "append", "zero"]))
        mutated = bytearray(original)
        if kind == "flip":
            for bit in data.draw(st.lists(st.integers(0, 8 * len(original) - 1), min_size=1, max_size=8)):
                mutated[bit // 8] ^= 1 << (bit % 8)
        elif kind == "truncate":
            mutated = mutated[:data.draw(st.integers(0, len(original) - 1))]
        elif kind == "append":
            mutated += data.draw(st.binary(min_size=1, max_size=64))
        else:
            start = data.draw(st.integers(0, len(original) - 1))
            end = min(len(original), start + data.draw(st.integers(1, 64)))
            mutated[start:end] = bytes(end - start)
        (work / name).write_bytes(bytes(mutated))
        try:
            session = _outcome(lambda: load(work), counts)
        finally:
            (work / name).write_bytes(original)
        if session is not None:
            unchanged = (json.loads(mutated) == json.loads(original)) if name == MANIFEST else mutated == original
            assert unchanged, f"{name} was changed ({kind}) but the artifact loaded"

    check()
    return counts


def _paths(value, prefix=()):
    """Every path (tuple of keys and indices) into a JSON value, the root included."""
    yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from _paths(item, (*prefix, key))


def _fuzz_manifest(artifact: Path, workdir: Path, examples: int) -> Counter:
    """Sealed manifests with a random field replaced or removed (a buggy or foreign writer), and
    random JSON documents; a loaded session must also survive one run."""
    from hypothesis import given, settings, strategies as st

    work = workdir / "manifest.aot"
    shutil.copytree(artifact, work)
    original = json.loads((work / MANIFEST).read_text())
    original.pop("manifest_sha256")
    paths = [p for p in _paths(original) if p]
    scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=12)
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) |
                          st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=8)
    counts: Counter = Counter()

    @settings(max_examples=examples, database=None, derandomize=DERANDOMIZE, deadline=None)
    @given(st.sampled_from(paths), st.one_of(st.just("delete"), values), st.booleans(), values)
    def check(path, replacement, whole_document, document):
        if whole_document:
            manifest = document
            (work / MANIFEST).write_text(json.dumps(document))
        else:
            manifest = copy.deepcopy(original)
            parent = manifest
            for key in path[:-1]:
                parent = parent[key]
            if replacement == "delete":
                del parent[path[-1]]
            else:
                parent[path[-1]] = replacement
            (work / MANIFEST).write_bytes(sealed_manifest(manifest))
        session = _outcome(lambda: load(work), counts)
        if session is not None:
            assert (manifest["dt"], manifest["layout"]) == (original["dt"], original["layout"]), "a lie was loaded"
            zeros = {n: np.zeros((2, *s), session.dtype) for n, s in session.layout["inputs"]}
            _outcome(lambda: session.run(session.init_state(), zeros, steps=2), counts)

    check()
    return counts


def _fuzz_lies(artifact: Path, workdir: Path, examples: int) -> Counter:
    """Resealed manifests that lie about dt, or list the leaves of a group in another order (names
    permuted among leaves of one shape, or the whole group reordered), hashes on or off: every
    one must be refused."""
    from hypothesis import given, settings, strategies as st

    work = workdir / "lies.aot"
    shutil.copytree(artifact, work)
    original = json.loads((work / MANIFEST).read_text())
    original.pop("manifest_sha256")
    groups = [g for g in ("params", "state", "inputs", "outputs") if len(original["layout"][g]) > 1]
    counts: Counter = Counter()

    @settings(max_examples=examples, database=None, derandomize=DERANDOMIZE, deadline=None)
    @given(st.data(), st.booleans())
    def check(data, check_hashes):
        manifest = copy.deepcopy(original)
        if data.draw(st.booleans(), "dt lie"):
            manifest["dt"] = data.draw(st.floats(1e-6, 10.0).filter(lambda dt: dt != original["dt"]), "dt")
        else:
            leaves = manifest["layout"][data.draw(st.sampled_from(groups), "group")]
            order = data.draw(st.permutations(range(len(leaves))).filter(lambda p: list(p) != sorted(p)), "order")
            if data.draw(st.booleans(), "names only"):       # same places, shapes; names moved among one shape
                shape = leaves[order[0]]["shape"]
                same = [i for i, leaf in enumerate(leaves) if leaf["shape"] == shape]
                if len(same) > 1:
                    names = [leaves[i]["name"] for i in same]
                    for i, name in zip(same, names[1:] + names[:1]):
                        leaves[i]["name"] = name
                else:
                    leaves[:] = [leaves[i] for i in order]
            else:
                leaves[:] = [leaves[i] for i in order]
        (work / MANIFEST).write_bytes(sealed_manifest(manifest))
        session = _outcome(lambda: load(work, check_hashes=check_hashes), counts)
        assert session is None, f"a lying manifest loaded: {manifest['dt']}, {manifest['layout']}"

    check()
    return counts


def _fuzz_state(artifact: Path, workdir: Path, examples: int) -> Counter:
    """Saved state files with random bit flips and truncations: refused, or read back exactly."""
    from hypothesis import given, settings, strategies as st

    session = load(artifact)
    state, _ = session.run(session.init_state(), {n: np.full((20, *s), 60.0, np.float32)
                                                  for n, s in session.layout["inputs"]})
    path = workdir / "state.npz"
    session.save_state(state, path)
    original = path.read_bytes()
    counts: Counter = Counter()

    @settings(max_examples=examples, database=None, derandomize=DERANDOMIZE, deadline=None)
    @given(st.lists(st.integers(0, 8 * len(original) - 1), min_size=1, max_size=4),
           st.one_of(st.none(), st.integers(0, len(original) - 1)))
    def check(bits, cut):
        mutated = bytearray(original)
        for bit in bits:
            mutated[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(mutated[:cut]))
        loaded = _outcome(lambda: session.load_state(path), counts)
        if loaded is not None:
            for name in state:
                assert loaded[name].tobytes() == state[name].tobytes(), f"{name} silently changed"

    check()
    return counts


if __name__ == "__main__":
    mode, artifact_dir, work_dir, n = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    loops = {"bytes": _fuzz_bytes, "manifest": _fuzz_manifest, "state": _fuzz_state, "lies": _fuzz_lies}
    print(json.dumps(dict(loops[mode](artifact_dir, work_dir, n))))
