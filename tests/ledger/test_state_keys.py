"""Listing and counting keys: committed state keeps each namespace sorted, overlays merge their
writes over it, and every layer answers exactly as a sorted filter over its live keys."""

from __future__ import annotations

import sys
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from consortia.ledger.state import (
    APPLY_CHUNK_WRITES,
    Context,
    Overlay,
    Reader,
    State,
    prefix_end,
)

# Few short segments, so prefixes, namespaces and keys overlap often (and a key may have no
# slash, or one, or several).
segment = st.sampled_from(["a", "b", "ab", "ba", ""])
key_st = st.lists(segment, min_size=1, max_size=4).map("/".join)
prefix_st = st.one_of(key_st, key_st.map(lambda k: k + "/"), st.just(""))
# (which layer writes: 0 committed, 1 block, 2 tx; key; value, None deletes)
write_st = st.tuples(st.integers(0, 2), key_st, st.one_of(st.none(), st.binary(max_size=2)))
query_st = st.tuples(prefix_st, st.one_of(st.just(""), key_st), st.one_of(st.none(), key_st),
                     st.one_of(st.none(), st.integers(0, 6)))


def naive(live: dict[str, bytes], prefix: str, start: str, stop: str | None,
          limit: int | None) -> list[str]:
    found = sorted(k for k in live if k.startswith(prefix) and k >= start
                   and (stop is None or k < stop))
    return found if limit is None else found[:limit]


def layers(writes: list[tuple[int, str, bytes | None]]) -> tuple[State, Overlay, Overlay,
                                                                  list[dict[str, bytes]]]:
    """Committed state, a block overlay over it and a tx overlay over that, with the live
    keys each one should show."""
    state = State()
    block = Overlay(state)
    tx = Overlay(block)
    for layer, key, raw in writes:
        if layer == 0:
            state.apply({key: raw})
        else:
            (block if layer == 1 else tx).writes[key] = raw
    live = [dict(state.items)]
    for overlay in (block, tx):
        seen = dict(live[-1])
        for key, raw in overlay.writes.items():
            if raw is None:
                seen.pop(key, None)
            else:
                seen[key] = raw
        live.append(seen)
    return state, block, tx, live


def context(overlay: Overlay) -> Context:
    return Context(overlay=overlay, chain_id="test", height=1, time_ms=0, seed=b"",
                   tx_id=b"", signer="", kind="test.test")


@settings(max_examples=300, deadline=None)
@given(st.lists(write_st, max_size=40), st.lists(query_st, min_size=1, max_size=8))
def test_keys_and_count_equal_a_sorted_filter_at_every_layer(
        writes: list[tuple[int, str, bytes | None]],
        queries: list[tuple[str, str, str | None, int | None]]) -> None:
    state, block, tx, live = layers(writes)
    readers: list[tuple[Reader, dict[str, bytes]]] = [
        (state, live[0]), (block, live[1]), (tx, live[2]), (context(tx), live[2])]
    for reader, seen in readers:
        for prefix, start, stop, limit in queries:
            want = naive(seen, prefix, start, stop, limit)
            assert reader.keys(prefix, start=start, stop=stop, limit=limit) == want
            assert reader.count(prefix, start=start, stop=stop) == len(
                naive(seen, prefix, start, stop, None))
        assert reader.keys("") == sorted(seen)


@settings(max_examples=100, deadline=None)
@given(st.lists(write_st, max_size=40))
def test_state_loaded_at_start_up_lists_as_one_built_by_blocks(
        writes: list[tuple[int, str, bytes | None]]) -> None:
    built = State()
    for _, key, raw in writes:
        built.apply({key: raw})
    loaded = State(dict(built.items))
    for prefix in ("", "a", "a/", "a/b/", "ab/ba/", "b/a"):
        assert loaded.keys(prefix) == built.keys(prefix)
        assert loaded.count(prefix) == built.count(prefix)


def test_a_prefix_ends_just_above_every_key_that_starts_with_it() -> None:
    assert prefix_end("") is None
    assert prefix_end("certification/by_vendor/acme/") == "certification/by_vendor/acme0"
    state = State({"x/a/": b"1", "x/a/z": b"1", "x/a0": b"1", "x/a": b"1"})
    assert state.keys("x/a/") == ["x/a/", "x/a/z"]
    assert state.keys("x/a/", limit=1) == ["x/a/"]
    assert state.keys("x/a/", start="x/a/\x00") == ["x/a/z"]
    assert state.count("x/") == 4


def test_listings_stay_whole_and_sorted_while_the_executor_applies_blocks() -> None:
    """API threads list keys while the executor applies blocks that insert and delete keys
    between others: a listing is sorted and always has every key no block touches (a sorted
    list read half-way through a rebalance would skip, repeat or raise)."""
    stable = [f"cert/x/{i:05d}0" for i in range(2_000)]
    state = State(dict.fromkeys(stable, b"1"))
    failures: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                listed = state.keys("cert/x/")
            except Exception as exc:  # a reader must never see a half-done insert
                failures.append(repr(exc))
                return
            kept = [k for k in listed if k.endswith("0")]
            if listed != sorted(set(listed)) or kept != stable:
                failures.append(f"{len(listed)} listed, {len(kept)} of {len(stable)} kept")
                return

    readers = [threading.Thread(target=read) for _ in range(2)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often: mid-insert, mid-slice
    for reader in readers:
        reader.start()
    try:
        for block in range(40):
            # Churn keys sort between the stable ones ("…1" to "…9"), so inserts and deletes
            # split and merge the sorted list's parts under the readers.
            digit = 1 + block % 9
            writes: dict[str, bytes | None] = {f"cert/x/{i:05d}{digit}": b"1"
                                               for i in range(0, 2_000, 3)}
            if block:
                writes.update({f"cert/x/{i:05d}{1 + (block - 1) % 9}": None
                               for i in range(0, 2_000, 3)})
            state.apply(writes)
    finally:
        done.set()
        for reader in readers:
            reader.join()
        sys.setswitchinterval(interval)
    assert not failures, failures
    assert state.count("cert/x/") == len(stable) + len(range(0, 2_000, 3))


def test_a_block_larger_than_a_chunk_is_applied_whole() -> None:
    state = State({"a/b/gone": b"1"})
    writes: dict[str, bytes | None] = {f"a/b/{i:05d}": b"1"
                                       for i in range(3 * APPLY_CHUNK_WRITES + 1)}
    writes["a/b/gone"] = None
    state.apply(writes)
    assert state.keys("a/b/") == sorted(k for k, raw in writes.items() if raw is not None)
    assert state.count("a/") == 3 * APPLY_CHUNK_WRITES + 1
