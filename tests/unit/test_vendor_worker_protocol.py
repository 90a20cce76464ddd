"""The worker process's name-key protocol (``pipeline.DedupePool.name_keys``, decision 0036): the keys wanted,
whichever side computed them, and the same when the worker is slow, done, absent or dies."""

from __future__ import annotations

import random
import time

import pytest

from triad.vendors import dedupe, pipeline
from triad.vendors.validation import name_key

WORDS = ["Acme", "Birch", "Cobalt", "Müller", "Ørsted", "Widgets", "Holdings", "&", "Co.", "Ltd", "GmbH", "LLC",
         "S.A.", "Inc.", "Limited", "Partners", "(UK)", "Services"]


def _names(n: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 5))) + f" {k}" for k in range(n)]


@pytest.mark.parametrize("wait", [0.0, 1.5])  # asked at once (the worker has little) or late (it has all)
def test_the_wanted_keys_whoever_computed_them(wait):
    names = _names(6000)
    wanted = sorted(random.Random(1).sample(range(len(names)), 2500))
    pool = pipeline.DedupePool(names)
    try:
        time.sleep(wait)
        got = pool.name_keys(wanted)
        assert {i: got[i] for i in wanted} == {i: name_key(names[i]) for i in wanted}
        assert pool._proc is not None  # the worker took part and is still there for the next request
        keys = [name_key(n) for n in names[:300]]
        assert pool.similar_names(keys, {1, 2}).result() == dedupe.similar_names(keys, new={1, 2})
    finally:
        pool.close()
    assert pool._proc is None


def test_the_worker_computes_its_share():
    """Asked after the worker has had time for most names: the parent computes only until its keys arrive."""
    names = _names(40000)
    pool = pipeline.DedupePool(names)
    computed: list[str] = []
    try:
        time.sleep(2.0)
        import triad.vendors.validation as validation

        real = validation.name_key
        validation.name_key = lambda n: computed.append(n) or real(n)
        try:
            got = pool.name_keys(list(range(0, 40000, 2)))
        finally:
            validation.name_key = real
        assert [got[i] for i in range(0, 40000, 2)] == [name_key(names[i]) for i in range(0, 40000, 2)]
        assert len(computed) < 10000  # alone the parent would compute all 20,000
    finally:
        pool.close()


def test_nothing_wanted_and_a_request_without_name_keys():
    names = _names(2000)
    pool = pipeline.DedupePool(names)
    try:
        assert pool.name_keys([]) == {}
        keys = [name_key(n) for n in names]
        assert pool.similar_names(keys, set()).result() == dedupe.similar_names(keys, new=set())
    finally:
        pool.close()
    pool = pipeline.DedupePool(names)  # never asked for keys: the request still gets its answer
    try:
        keys = [name_key(n) for n in names]
        assert pool.similar_names(keys, {3}).result() == dedupe.similar_names(keys, new={3})
    finally:
        pool.close()


def test_a_worker_that_dies_leaves_the_parent_computing_the_keys():
    names = _names(4000)
    wanted = list(range(0, 4000, 3))
    pool = pipeline.DedupePool(names)
    try:
        time.sleep(0.3)
        pool._proc.kill()
        pool._proc.wait()  # gone for sure (its pipes closed) before it is asked anything
        got = pool.name_keys(wanted)
        assert [got[i] for i in wanted] == [name_key(names[i]) for i in wanted]
        keys = [name_key(n) for n in names[:200]]
        assert pool.similar_names(keys, {0}).result() == dedupe.similar_names(keys, new={0})
        assert pool._proc is None  # seen gone (by the first read or write that found its pipe closed)
    finally:
        pool.close()


def test_frames_round_trip_and_end_of_input(tmp_path):
    from triad.vendors.frames import read_frame, write_frame

    path = tmp_path / "frames"
    with open(path, "wb") as f:
        write_frame(f, ("keys", [1, 2], ["a", "b"]))
        write_frame(f, ("end",))
    with open(path, "rb") as f:
        assert read_frame(f) == ("keys", [1, 2], ["a", "b"])
        assert read_frame(f) == ("end",)
        assert read_frame(f) is None
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:10])  # cut inside the first frame
    with open(path, "rb") as f, pytest.raises(EOFError):
        read_frame(f)


@pytest.mark.parametrize("replaces", [False, True])
def test_requests_are_answered_in_order_and_a_replacing_one_stops_the_one_before(replaces):
    names = _names(30000)
    keys = [name_key(n) for n in names]
    pool = pipeline.DedupePool(names)
    try:
        pool.name_keys([])
        first = pool.similar_names(keys, set(range(0, 30000, 2)))  # long enough to be stopped mid-way
        second = pool.similar_names(keys[:500], {1, 7}, replaces=replaces)
        assert second.result() == dedupe.similar_names(keys[:500], new={1, 7})
        if not replaces:
            assert first.result() == dedupe.similar_names(keys, new=set(range(0, 30000, 2)))
        else:
            assert first._frame is not None and first._frame[0] in ("cancelled", "ok")
        assert pool._proc is not None  # neither answer made the parent give up on the worker
    finally:
        pool.close()


def test_the_search_runs_at_a_lower_priority_than_the_import():
    """Decision 0037: the name keys at the parent's priority, the duplicate search ``SEARCH_NICE`` lower."""
    import os

    from triad.vendors import dedupe_worker

    names = _names(3000)
    pool = pipeline.DedupePool(names)
    try:
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, pool._proc.pid) == ours  # computing the keys
        pool.name_keys(list(range(0, 3000, 3)))
        keys = [name_key(n) for n in names]
        assert pool.similar_names(keys, {1}).result() == dedupe.similar_names(keys, new={1})
        assert os.getpriority(os.PRIO_PROCESS, pool._proc.pid) == min(ours + dedupe_worker.SEARCH_NICE, 19)
    finally:
        pool.close()
    assert os.getpriority(os.PRIO_PROCESS, 0) == ours  # the import's own process is not changed
