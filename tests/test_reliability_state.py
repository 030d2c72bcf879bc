"""State is never lost: every precision compiles and runs, saved states round-trip bit for bit,
an interrupted run resumes on exactly the same trajectory, and a crash mid-save leaves the
previous checkpoint whole and loadable."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import reliability_support as support
from aotsnn.runtime import load
from aotsnn.runtime.format import write_atomic

JAX_DTYPES = {"float32": jnp.float32, "float16": jnp.float16, "bfloat16": jnp.bfloat16, "float64": jnp.float64}


def jax_run(precision: str, inputs: dict, steps: int):
    """jax.jit(lax.scan) of the small network at `precision`, from its initial state."""
    net, dtype = support.small_net(), JAX_DTYPES[precision]
    with jax.enable_x64(precision == "float64"):
        cast = lambda tree: {k: jnp.asarray(v, dtype) for k, v in tree.items()}
        x = {k: jnp.asarray(support.from_storage(v, precision), dtype) for k, v in inputs.items()}
        final, out = jax.jit(lambda p, s, x: net.run(s, x, p))(cast(net.params), cast(net.init_state()), x)
        return ({k: np.asarray(v, np.float64) for k, v in final.items()},
                {k: np.asarray(v, np.float64) for k, v in out.items()})


@pytest.mark.parametrize("precision", support.PRECISIONS)
def test_every_precision_compiles_and_runs_like_jax(precision):
    """float32 and float64 follow jax bit for bit here. The half precisions round every operation
    to their dtype, XLA not always: bfloat16 per fused expression, and float16 on a CPU whose
    AVX-512 code XLA uses for it (an Intel Xeon with AVX512-FP16: 146 of 16,000 spikes differed
    by step 400; on AMD Zen 5 and with XLA_FLAGS=--xla_cpu_max_isa=AVX2, none): within 2 ulp per
    step, checked step by step."""
    session = load(support.artifact(precision))
    inputs = support.inputs(400, precision)
    state, out = session.run(session.init_state(), inputs)
    assert out["exc.spikes"].dtype == session.dtype and out["exc.spikes"].shape == (400, 1, 40)
    assert all(np.all(np.isfinite(support.from_storage(v, precision))) for v in state.values())
    assert support.from_storage(out["exc.spikes"], precision).sum() > 0
    if precision in ("float32", "float64"):
        ref_state, ref_out = jax_run(precision, inputs, 400)
        for name in out:
            np.testing.assert_array_equal(support.from_storage(out[name], precision), ref_out[name], err_msg=name)
        for name in state:
            np.testing.assert_allclose(support.from_storage(state[name], precision), ref_state[name],
                                       rtol=1e-5, atol=1e-4, err_msg=name)
        return
    net, step, dtype = support.small_net(), jax.jit(support.small_net().apply), JAX_DTYPES[precision]
    params = {k: jnp.asarray(v, dtype) for k, v in net.params.items()}
    state = session.init_state()
    bits = lambda a: np.asarray(a).view(np.uint16).astype(np.int32)     # bfloat16 is stored as its bits
    for t in range(100):
        x = {k: v[t] for k, v in inputs.items()}
        new, _ = session.step(state, x)
        ref, _ = step({k: jnp.asarray(support.from_storage(v, precision), dtype) for k, v in state.items()},
                      {k: jnp.asarray(support.from_storage(v, precision), dtype) for k, v in x.items()}, params)
        for name in new:
            ulps = np.abs(bits(new[name]) - bits(ref[name]))
            assert ulps.max() <= 2, (t, name, ulps.max())
        state = new


@pytest.mark.parametrize("precision", support.PRECISIONS)
def test_save_load_state_is_bit_exact_in_every_precision(precision, tmp_path):
    session = load(support.artifact(precision))
    state, _ = session.run(session.init_state(), support.inputs(150, precision))
    odd = {k: v.copy() for k, v in state.items()}
    specials = {"float32": np.array([-0.0, np.nan, np.inf, 1e-45], np.float32),      # -0, NaN, Inf, subnormal
                "float16": np.array([-0.0, np.nan, -np.inf, 6e-8], np.float16),
                "float64": np.array([-0.0, np.nan, np.inf, 5e-324]),
                "bfloat16": np.array([0x8000, 0x7FC1, 0xFF80, 0x0001], np.uint16)}[precision]
    odd["exc.v_rel"][0, :4] = specials
    for tree in (state, odd):
        session.save_state(tree, tmp_path / "ckpt.npz")
        loaded = load(support.artifact(precision)).load_state(tmp_path / "ckpt.npz")
        assert sorted(loaded) == sorted(tree)
        for name in tree:
            assert loaded[name].dtype == tree[name].dtype and loaded[name].shape == tree[name].shape
            assert loaded[name].tobytes() == tree[name].tobytes(), name


@pytest.mark.parametrize("precision", support.PRECISIONS)
def test_a_run_resumed_from_a_saved_state_follows_the_same_trajectory(precision, tmp_path):
    inputs = support.inputs(300, precision)
    session = load(support.artifact(precision))
    full_state, full_out = session.run(session.init_state(), inputs)
    middle, first = session.run(session.init_state(), {k: v[:117] for k, v in inputs.items()})
    session.save_state(middle, tmp_path / "ckpt.npz")
    del session
    resumed = load(support.artifact(precision))                     # a fresh process would do the same
    end, rest = resumed.run(resumed.load_state(tmp_path / "ckpt.npz"), {k: v[117:] for k, v in inputs.items()})
    for name in full_out:
        assert np.concatenate([first[name], rest[name]]).tobytes() == full_out[name].tobytes(), name
    for name in full_state:
        assert end[name].tobytes() == full_state[name].tobytes(), name


CHUNKED_RUN = """
import sys, numpy as np, aotsnn.runtime as rt
artifact, ckpt, chunks, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s = rt.load(artifact)
x = {n: np.random.default_rng(3).normal(45.0, 25.0, (chunks * chunk, *shape)).astype(np.float32)
     for n, shape in s.layout["inputs"]}
state = s.init_state()
for k in range(chunks):
    state, _ = s.run(state, {n: v[k * chunk:(k + 1) * chunk] for n, v in x.items()})
    s.save_state(state, ckpt)
    print(k, flush=True)
"""


def test_a_killed_run_resumes_from_its_last_checkpoint_exactly(small_artifact, tmp_path):
    """A process saving a checkpoint after every chunk is SIGKILLed at a random moment (often
    inside a save); the checkpoint is one of the chunk boundaries, whole, and the run resumed
    from it reproduces the uninterrupted trajectory bit for bit."""
    chunks, chunk = 400, 25
    ckpt = tmp_path / "ckpt.npz"
    child = subprocess.Popen([sys.executable, "-c", CHUNKED_RUN, str(small_artifact), str(ckpt), str(chunks), str(chunk)],
                             stdout=subprocess.PIPE, text=True)
    for _ in range(20):                 # let it save a few checkpoints, then kill it mid-stride
        child.stdout.readline()
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the run finished before it could be killed"

    session = load(small_artifact)
    x = {n: np.random.default_rng(3).normal(45.0, 25.0, (chunks * chunk, *shape)).astype(np.float32)
         for n, shape in session.layout["inputs"]}
    saved = session.load_state(ckpt)
    state, boundary = session.init_state(), None
    for k in range(chunks):
        state, _ = session.run(state, {n: v[k * chunk:(k + 1) * chunk] for n, v in x.items()})
        if all(state[n].tobytes() == saved[n].tobytes() for n in state):
            boundary = k
            break
    assert boundary is not None and boundary >= 19, "the checkpoint is not a state the run passed through"
    rest = {n: v[(boundary + 1) * chunk:(boundary + 11) * chunk] for n, v in x.items()}
    expected_state, expected_out = session.run(state, rest)
    resumed_state, resumed_out = load(small_artifact).run(saved, rest)
    for name in expected_out:
        assert resumed_out[name].tobytes() == expected_out[name].tobytes()
    for name in expected_state:
        assert resumed_state[name].tobytes() == expected_state[name].tobytes()


# -- crashes in the middle of a save ---------------------------------------------------------------------------

@pytest.fixture()
def checkpoint(session, tmp_path):
    """(session, path of a saved checkpoint, that state, a different state)."""
    old = session.init_state()
    new, _ = session.run(old, support.inputs(100))
    session.save_state(old, tmp_path / "ckpt.npz")
    return session, tmp_path / "ckpt.npz", old, new


def assert_intact(session, path, expected):
    loaded = session.load_state(path)
    for name in expected:
        assert loaded[name].tobytes() == expected[name].tobytes()
    leftovers = [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers, leftovers


class Crash(Exception):
    pass


def test_a_crash_at_the_rename_keeps_the_old_checkpoint(checkpoint, monkeypatch):
    session, path, old, new = checkpoint

    def crash(*args):
        raise Crash("power lost before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(Crash):
        session.save_state(new, path)
    monkeypatch.undo()
    assert_intact(session, path, old)


def test_a_crash_halfway_through_the_write_keeps_the_old_checkpoint(checkpoint, monkeypatch):
    session, path, old, new = checkpoint
    real_fdopen = os.fdopen

    class HalfWriter:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            self.handle.write(data[:len(data) // 2])
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="No space left"):
        session.save_state(new, path)
    monkeypatch.undo()
    assert_intact(session, path, old)


def test_a_failed_fsync_keeps_the_old_checkpoint(checkpoint, monkeypatch):
    session, path, old, new = checkpoint
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(5, "I/O error")))
    with pytest.raises(OSError, match="I/O error"):
        session.save_state(new, path)
    monkeypatch.undo()
    assert_intact(session, path, old)


SAVE_FOREVER = """
import sys, numpy as np
from pathlib import Path
from aotsnn.runtime.format import write_atomic
path, size = Path(sys.argv[1]), int(sys.argv[2])
blobs = [bytes([k]) * size for k in (1, 2)]
write_atomic(path, blobs[0])
print("ready", flush=True)
k = 0
while True:
    k += 1
    write_atomic(path, blobs[k % 2])
"""


@pytest.mark.parametrize("attempt", range(3))
def test_killing_a_large_save_at_a_random_moment_leaves_a_whole_file(tmp_path, attempt):
    """SIGKILL (no cleanup runs) while 32 MB are written over and over: the file is always one
    of the two contents, complete. A killed write can leave its temporary file behind."""
    size, path = 32 << 20, tmp_path / "big.bin"
    child = subprocess.Popen([sys.executable, "-c", SAVE_FOREVER, str(path), str(size)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    time.sleep(0.05 + 0.1 * attempt)
    child.send_signal(signal.SIGKILL)
    child.wait()
    data = path.read_bytes()
    assert len(data) == size and data in (bytes([1]) * size, bytes([2]) * size)
    for leftover in tmp_path.glob(".big.bin.*.tmp"):
        assert leftover.stat().st_size <= size


def test_write_atomic_replaces_the_file_and_leaves_nothing_else(tmp_path):
    write_atomic(tmp_path / "a.bin", b"old")
    write_atomic(tmp_path / "a.bin", b"new")
    assert (tmp_path / "a.bin").read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_the_numpy_bfloat16_codec_rounds_like_ml_dtypes():
    """The runtime converts without ml_dtypes; it must give the writer's (ml_dtypes') bits."""
    import ml_dtypes

    from aotsnn.runtime import bfloat16_bits, bfloat16_values

    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0, 1, 20000) * 10.0 ** rng.integers(-45, 39, 20000),
                             [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 3.4e38, 1e39, 1e-40,
                              1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 + 2**-30]])
    with np.errstate(over="ignore"):
        expected = values.astype(ml_dtypes.bfloat16).view(np.uint16)
    np.testing.assert_array_equal(bfloat16_bits(values), expected)
    every = np.arange(1 << 16, dtype=np.uint16)
    np.testing.assert_array_equal(bfloat16_values(every).view(np.uint32),
                                  every.view(ml_dtypes.bfloat16).astype(np.float32).view(np.uint32))


def exact_bfloat16_bits(value: float) -> int:
    """The bfloat16 nearest to a float64 `value` (ties to even), by exact rational arithmetic."""
    if value != value:
        return 0x7FC0 | (0x8000 if np.signbit(value) else 0)
    if abs(value) == np.inf:
        return 0x7F80 | (0x8000 if value < 0 else 0)
    magnitude = Fraction(abs(value))
    exponent = max(magnitude.numerator.bit_length() - magnitude.denominator.bit_length(), -126) if magnitude else -126
    if magnitude and Fraction(2) ** exponent > magnitude:
        exponent = max(exponent - 1, -126)
    ulp = Fraction(2) ** (exponent - 7)                         # 8 significant bits
    nearest = round(magnitude / ulp) * ulp                       # round() of a Fraction: half to even
    single = np.float32(np.inf) if nearest >= 2 ** 128 else np.float32(float(nearest))
    bits = int(single.view(np.uint32)) >> 16
    return bits | (0x8000 if np.signbit(value) else 0)


def test_the_bfloat16_codec_rounds_float64_once():
    """float64 values at, just above and just below bfloat16 ties (where rounding through float32
    first would round twice), subnormals, and the overflow edge, against exact arithmetic."""
    from aotsnn.runtime import bfloat16_bits

    rng = np.random.default_rng(1)
    kept = rng.integers(0, 1 << 16, 3000).astype(np.uint32) << 16          # bfloat16 values
    kept = kept[((kept >> 23) & 0xFF) != 0xFF]                               # finite ones
    base = kept.view(np.float32).astype(np.float64)
    base = base[base != 0]
    half_ulp = np.abs(base) * 2.0 ** -8
    nudges = np.abs(base) * 2.0 ** -30
    values = np.concatenate([base + half_ulp, base + half_ulp + nudges, base + half_ulp - nudges,
                             base - half_ulp + nudges, [1e-40, 3e-41, 2.0 ** -133, 2.0 ** -134 * 3,
                                                        3.3961e38, 3.3962e38, 3.39e38, -3.3962e38, 1e300]])
    values = values[np.isfinite(values)]
    expected = np.array([exact_bfloat16_bits(v) for v in values], dtype=np.uint16)
    got = bfloat16_bits(values)
    bad = np.flatnonzero(got != expected)
    assert bad.size == 0, f"{bad.size} wrong, first {values[bad[0]]!r}: {got[bad[0]]:#06x} != {expected[bad[0]]:#06x}"
    for narrow in (np.float32, np.float16):                          # exact in float32: one rounding
        with np.errstate(over="ignore"):
            narrowed = values.astype(narrow)
        assert np.array_equal(bfloat16_bits(narrowed), [exact_bfloat16_bits(float(v)) for v in narrowed])
