"""The cyclic collector is paused inside bulk work and left as it was found after it."""

import gc

import pytest

from triad.core.gcpause import cyclic_gc_paused


@pytest.fixture(autouse=True)
def _restore_gc():
    was_on = gc.isenabled()
    yield
    if was_on:
        gc.enable()
    else:
        gc.disable()


def test_paused_inside_and_resumed_after_even_on_error():
    gc.enable()
    with pytest.raises(ValueError), cyclic_gc_paused():
        assert not gc.isenabled()
        raise ValueError("boom")
    assert gc.isenabled()


def test_nested_pause_leaves_resuming_to_the_outer_one():
    gc.enable()
    with cyclic_gc_paused():
        with cyclic_gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner one found it off: it stays off
    assert gc.isenabled()


def test_a_collector_found_off_stays_off():
    gc.disable()
    with cyclic_gc_paused():
        pass
    assert not gc.isenabled()


def test_as_a_decorator():
    gc.enable()

    @cyclic_gc_paused()
    def work() -> bool:
        return gc.isenabled()

    assert work() is False and work() is False
    assert gc.isenabled()
