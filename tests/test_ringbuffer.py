"""The SPSC ring buffer: wrap-around, under/overflow counting, no allocation, two threads."""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest

from instrument.errors import ConfigError
from instrument.io.ringbuffer import RingBuffer


def test_write_read_wraps_around_in_order(rng: np.random.Generator) -> None:
    ring = RingBuffer(10)
    data = rng.standard_normal(37).astype(np.float32)
    out = np.zeros(37, np.float32)
    pos_in = pos_out = 0
    for step in (3, 7, 4, 9, 2, 6, 6):
        pos_in += ring.write(data[pos_in:pos_in + step])
        got = ring.read_into(out[pos_out:pos_out + 4], fill_underflow=False)
        pos_out += got
    while pos_out < pos_in:
        pos_out += ring.read_into(out[pos_out:pos_in], fill_underflow=False)
    np.testing.assert_array_equal(out[:pos_out], data[:pos_out])
    assert ring.available_read() == 0


def test_underflow_zero_fills_and_counts() -> None:
    ring = RingBuffer(8)
    ring.write(np.ones(3, np.float32))
    out = np.full(5, 7.0, np.float32)
    assert ring.read_into(out) == 3
    np.testing.assert_array_equal(out, [1, 1, 1, 0, 0])
    assert (ring.underflows, ring.underflow_frames) == (1, 2)


def test_overflow_drops_excess_and_counts() -> None:
    ring = RingBuffer(4)
    assert ring.write(np.arange(6, dtype=np.float32)) == 4
    assert (ring.overflows, ring.overflow_frames) == (1, 2)
    out = np.zeros(4, np.float32)
    ring.read_into(out)
    np.testing.assert_array_equal(out, [0, 1, 2, 3])


def test_multichannel_and_shape_errors() -> None:
    ring = RingBuffer(6, channels=2)
    block = np.arange(8, dtype=np.float32).reshape(4, 2)
    ring.write(block)
    out = np.zeros((4, 2), np.float32)
    ring.read_into(out)
    np.testing.assert_array_equal(out, block)
    with pytest.raises(ConfigError):
        ring.write(np.zeros(4, np.float32))
    with pytest.raises(ConfigError):
        ring.read_into(np.zeros((4, 3), np.float32))
    with pytest.raises(ConfigError):
        RingBuffer(0)


def test_read_and_write_do_not_allocate_array_memory() -> None:
    ring = RingBuffer(4096)
    src = np.ones(256, np.float32)
    dst = np.zeros(256, np.float32)
    ring.write(src)
    ring.read_into(dst)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(500):
        ring.write(src)
        ring.read_into(dst)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    # A 256-sample float32 array is 1 KiB: 500 iterations that allocated would grow by far more.
    assert grown < 4096, f"ring buffer allocated {grown} bytes over 500 read/write pairs"


def test_two_threads_transfer_every_sample_in_order() -> None:
    ring = RingBuffer(1000)
    total = 200_000
    source = np.arange(total, dtype=np.float32)
    received = np.zeros(total, np.float32)
    done = threading.Event()

    def producer() -> None:
        pos = 0
        while pos < total:
            n = min(333, ring.available_write(), total - pos)
            pos += ring.write(source[pos:pos + n]) if n else 0
            if not n:
                done.wait(0.0005)

    thread = threading.Thread(target=producer)
    thread.start()
    pos = 0
    while pos < total:
        got = ring.read_into(received[pos:pos + 256], fill_underflow=False)
        pos += got
        if not got:
            done.wait(0.0005)
    thread.join()
    np.testing.assert_array_equal(received, source)
    assert ring.overflows == 0
