"""Concurrency: sessions share nothing, and one session shared by threads is serialised.

Every threaded result is compared bit for bit with the same work done sequentially.
"""
from __future__ import annotations

import threading

import numpy as np

import reliability_support as support
from aotsnn.runtime import load

CHUNKS, CHUNK = 8, 50


def chunked_run(session, seed: int, barrier: threading.Barrier | None = None) -> tuple[dict, np.ndarray]:
    """CHUNKS runs of CHUNK steps on the drive of `seed`: (final state, all exc spikes)."""
    inputs = support.inputs(CHUNKS * CHUNK, seed=seed)
    state, spikes = session.init_state(), []
    for k in range(CHUNKS):
        if barrier is not None:
            barrier.wait()                      # both threads call run() at the same moment
        state, out = session.run(state, {n: v[k * CHUNK:(k + 1) * CHUNK] for n, v in inputs.items()})
        spikes.append(out["exc.spikes"])
    return state, np.concatenate(spikes)


def in_threads(jobs) -> list:
    """Run each zero-argument job in its own thread; their results, in order (errors re-raised)."""
    results, errors = [None] * len(jobs), []

    def work(i, job):
        try:
            results[i] = job()
        except BaseException as exc:           # reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def assert_same(a: tuple[dict, np.ndarray], b: tuple[dict, np.ndarray]) -> None:
    assert a[1].tobytes() == b[1].tobytes() and a[1].sum() > 0
    for name in a[0]:
        assert a[0][name].tobytes() == b[0][name].tobytes(), name


def test_two_sessions_of_one_artifact_in_two_threads_do_not_interfere(small_artifact):
    """Different drives per session, so a shared workspace or state would show at once."""
    one, two = load(small_artifact), load(small_artifact)
    one.set_params(**{"exc.potential_tau": 6.0})
    expected = [chunked_run(one, seed=1), chunked_run(two, seed=2)]
    barrier = threading.Barrier(2)
    got = in_threads([lambda: chunked_run(one, 1, barrier), lambda: chunked_run(two, 2, barrier)])
    for a, b in zip(got, expected):
        assert_same(a, b)
    assert got[0][1].tobytes() != got[1][1].tobytes()


def test_one_session_shared_by_two_threads_is_serialised(small_artifact):
    session = load(small_artifact)
    expected = [chunked_run(session, seed=1), chunked_run(session, seed=2)]
    inside, most = [0], [0]
    real_run = session._run

    def counting_run(*args):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        try:
            return real_run(*args)
        finally:
            inside[0] -= 1

    session._run = counting_run
    barrier = threading.Barrier(2)
    got = in_threads([lambda: chunked_run(session, 1, barrier), lambda: chunked_run(session, 2, barrier)])
    assert most[0] == 1, "two threads were inside the compiled call of one session at once"
    for a, b in zip(got, expected):
        assert_same(a, b)


def test_set_params_from_another_thread_applies_between_calls(small_artifact):
    """A parameter change never lands in the middle of a run: every run sees one set or the other."""
    session = load(small_artifact)
    x = support.inputs(3000)
    slow, fast = 6.0, 4.0
    outcomes = {}
    for tau in (slow, fast):
        session.set_params(**{"exc.potential_tau": tau})
        outcomes[tau] = session.run(session.init_state(), x)[0]["exc.v_rel"].tobytes()
    assert outcomes[slow] != outcomes[fast]
    done = threading.Event()

    def runs():
        try:
            return [session.run(session.init_state(), x)[0]["exc.v_rel"].tobytes() for _ in range(20)]
        finally:
            done.set()

    def flips():
        k = 0
        while not done.is_set():
            session.set_params(**{"exc.potential_tau": (slow, fast)[k % 2]})
            k += 1
        return k

    seen, changes = in_threads([runs, flips])
    assert changes > 20 and set(seen) <= set(outcomes.values())
