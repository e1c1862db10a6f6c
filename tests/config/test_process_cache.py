"""The in-process cache in front of Redis: bounded in bytes, least recently used dropped first,
entries end with their lifetime."""

from __future__ import annotations

import threading
import time

from config.process_cache import ProcessCache, process_caches_clear


def test_a_value_is_kept_for_its_lifetime_only():
    kept = ProcessCache(max_bytes=1000)
    kept.set("a", b"value", seconds=0.2)
    assert kept.get("a") == b"value"
    time.sleep(0.25)
    assert kept.get("a") is None
    assert len(kept) == 0


def test_the_least_recently_used_go_first_when_the_bytes_run_out():
    kept = ProcessCache(max_bytes=30)
    kept.set("a", b"x" * 10, seconds=60)
    kept.set("b", b"y" * 10, seconds=60)
    kept.set("c", b"z" * 10, seconds=60)
    assert kept.get("a") == b"x" * 10  # a is now the most recently used
    kept.set("d", b"w" * 10, seconds=60)
    assert kept.get("b") is None
    assert [kept.get(k) is not None for k in "acd"] == [True, True, True]


def test_a_value_larger_than_the_bound_or_with_no_lifetime_is_not_kept():
    kept = ProcessCache(max_bytes=10)
    kept.set("big", b"x" * 11, seconds=60)
    kept.set("off", b"x", seconds=0)
    assert kept.get("big") is None and kept.get("off") is None


def test_replacing_a_value_counts_its_bytes_once():
    kept = ProcessCache(max_bytes=20)
    for _ in range(5):
        kept.set("a", b"x" * 15, seconds=60)
    kept.set("a", b"x" * 5, seconds=60)
    kept.set("b", b"y" * 15, seconds=60)
    assert kept.get("a") == b"x" * 5 and kept.get("b") == b"y" * 15


def test_clearing_every_process_cache():
    one, two = ProcessCache(max_bytes=100), ProcessCache(max_bytes=100)
    one.set("a", b"1", seconds=60)
    two.set("a", b"2", seconds=60)
    process_caches_clear()
    assert one.get("a") is None and two.get("a") is None


def test_threads_writing_at_once_keep_the_bound():
    kept = ProcessCache(max_bytes=1000)

    def write(n: int) -> None:
        for i in range(500):
            kept.set(f"{n}:{i}", b"x" * 10, seconds=60)
            kept.get(f"{n}:{i - 1}")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(kept) == 100
