"""training.float16: the dataset shards' float32 -> float16 conversion is numpy's cast, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from instrument.errors import DatasetError
from training.float16 import from_float16, to_float16


def test_to_float16_is_numpys_cast_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    random_bits = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    small = (rng.random(100_000) * 2.0 ** -rng.integers(0, 30, 100_000)).astype(np.float32)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 65504, 65519.99, 65520, 6.1035156e-5,
                         5.9604645e-8, 2.9802322e-8, 2.9802326e-8, 1e-45, -1e-45, 3e38], np.float32)
    x = np.concatenate([random_bits, small, specials]).reshape(-1, 5)
    with np.errstate(all="ignore"):
        want = x.astype(np.float16)
    out = np.empty(x.shape, np.float16)
    assert to_float16(x, out) is out
    np.testing.assert_array_equal(out.view(np.uint16), want.view(np.uint16))


def test_from_float16_is_numpys_cast_bit_for_bit() -> None:
    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16).reshape(256, 16, 16)[:, ::2]
    got = from_float16(halves)
    assert got.shape == halves.shape and got.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.uint32), halves.astype(np.float32).view(np.uint32))
    with pytest.raises(DatasetError, match="takes float16"):
        from_float16(np.zeros(3, np.float32))


def test_to_float16_rejects_other_dtypes_and_layouts() -> None:
    with pytest.raises(DatasetError, match="float32 into float16"):
        to_float16(np.zeros(4), np.empty(4, np.float16))
    with pytest.raises(DatasetError, match="C-contiguous"):
        to_float16(np.zeros((4, 4), np.float32).T, np.empty((4, 4), np.float16))
