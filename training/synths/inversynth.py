"""Barkan et al.'s InverSynth reference synth (section 3), rendered a batch at a time.

Signal chain per patch, ``y = gate(lowpass(env(sum_w A_w x_w(phase_w))))`` with

* four oscillators ``w in (sin, saw, tri, sqr)``, phase in cycles
  ``f_w t + I_w sin(2 pi v_w t)``; ``I_w = B_w / (2 pi v_w)`` when ``B`` is a frequency
  deviation in Hz (default: instantaneous frequency ``f + B cos(2 pi v t)``), or
  ``B_w / (2 pi)`` for the paper's literal radians index (``options.fm_depth_units``).
  Saw and square are PolyBLEP band-limited (BLEP width from the carrier frequency,
  an approximation under strong FM); sines are a folded degree-11 polynomial
  (vectorises, error < 1e-7).
* a linear ADSR envelope (key held for ``options.note_seconds``, then release ``r``).
* an RBJ resonant low-pass biquad (cutoff ``f_cut`` Hz, quality ``q``), float64 state.
* the gater ``(1 + sqr(2 pi f_gate t)) / 2``.
* output normalised to peak 1 (silent output stays 0).

The whole chain is one fused numba kernel (no temporaries), so a 1 s clip at
16384 Hz costs a fraction of a millisecond.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from instrument.errors import SynthError
from training.synths.spec import Synth, SynthSpec

WAVEFORMS = ("sin", "saw", "tri", "sqr")
#: Parameter order the kernel reads (looked up by name in the spec).
KERNEL_PARAMS = (tuple(f"f_{w}" for w in WAVEFORMS) + tuple(f"A_{w}" for w in WAVEFORMS)
                 + tuple(f"B_{w}" for w in WAVEFORMS) + tuple(f"v_{w}" for w in WAVEFORMS)
                 + ("a", "d", "s", "r", "f_gate", "f_cut", "q"))
FM_UNITS = ("hz", "radians")


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _sin_cycles(c: float) -> float:
    """``sin(2 pi c)`` for any ``c``: fold to a quarter wave, odd degree-11 polynomial (err < 1e-7)."""
    y = c - math.floor(c + 0.5)          # [-0.5, 0.5)
    y = 0.5 - y if y > 0.25 else y       # fold about +-1/4 cycle (sin symmetric)
    y = -0.5 - y if y < -0.25 else y
    x = 2.0 * math.pi * y                # [-pi/2, pi/2]
    x2 = x * x
    return x * (1.0 + x2 * (-1.0 / 6.0 + x2 * (1.0 / 120.0 + x2 * (-1.0 / 5040.0 + x2 * (
        1.0 / 362880.0 + x2 * (-1.0 / 39916800.0))))))


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _polyblep(t: float, dt: float, inv_dt: float) -> float:
    """Polynomial band-limited step residual at phase ``t`` in [0, 1) for increment ``dt``."""
    x1 = t * inv_dt
    x2 = (t - 1.0) * inv_dt
    r1 = x1 + x1 - x1 * x1 - 1.0
    r2 = x2 * x2 + x2 + x2 + 1.0
    return r1 if t < dt else (r2 if t > 1.0 - dt else 0.0)


@njit(cache=True, fastmath=True, nogil=True)
def _render_kernel(params: np.ndarray, sample_rate: float, note_seconds: float, fm_hz: bool,
                   out: np.ndarray) -> None:  # pragma: no cover - numba
    """Render ``params`` (batch, 23) in KERNEL_PARAMS order into ``out`` (batch, samples).

    Pass 1 (SIMD-vectorised by LLVM): oscillators x envelope into a float64 scratch row.
    Pass 2 (sequential): biquad, gater, peak. Pass 3: normalise.
    """
    batch, n = out.shape
    inv_sr = 1.0 / sample_rate
    two_pi = 2.0 * math.pi
    x = np.empty(n, dtype=np.float64)
    for b in range(batch):
        p = params[b]
        f0, f1, f2, f3 = p[0], p[1], p[2], p[3]
        a0, a1, a2, a3 = p[4], p[5], p[6], p[7]
        v0, v1, v2, v3 = p[12], p[13], p[14], p[15]
        if fm_hz:
            i0 = p[8] / (two_pi * v0)
            i1 = p[9] / (two_pi * v1)
            i2 = p[10] / (two_pi * v2)
            i3 = p[11] / (two_pi * v3)
        else:
            i0 = p[8] / two_pi
            i1 = p[9] / two_pi
            i2 = p[10] / two_pi
            i3 = p[11] / two_pi
        # BLEP width from the carrier frequency (FM widens the real increment; a cheap bound)
        dt1 = min(max(f1 * inv_sr, 1e-6), 0.5)
        dt3 = min(max(f3 * inv_sr, 1e-6), 0.5)
        inv1 = 1.0 / dt1
        inv3 = 1.0 / dt3
        att, dec, sus, rel = p[16], p[17], p[18], p[19]
        f_gate, f_cut, q = p[20], p[21], p[22]
        inv_att = 1.0 / att
        dec_slope = (1.0 - sus) / dec
        inv_rel = 1.0 / rel
        if note_seconds < att:
            level_off = note_seconds * inv_att
        else:
            level_off = max(sus, 1.0 - dec_slope * (note_seconds - att))
        for k in range(n):
            t = k * inv_sr
            m0 = _sin_cycles(v0 * t)
            m1 = _sin_cycles(v1 * t)
            m2 = _sin_cycles(v2 * t)
            m3 = _sin_cycles(v3 * t)
            c0 = f0 * t + i0 * m0
            c1 = f1 * t + i1 * m1
            c2 = f2 * t + i2 * m2
            c3 = f3 * t + i3 * m3
            fr1 = c1 - math.floor(c1)
            fr2 = c2 - math.floor(c2)
            fr3 = c3 - math.floor(c3)
            h = fr3 + 0.5
            h = h - 1.0 if h >= 1.0 else h
            sq = 1.0 if fr3 < 0.5 else -1.0
            s = a0 * _sin_cycles(c0)
            s += a1 * (2.0 * fr1 - 1.0 - _polyblep(fr1, dt1, inv1))
            s += a2 * (1.0 - 4.0 * abs(fr2 - 0.5))
            s += a3 * (sq + _polyblep(fr3, dt3, inv3) - _polyblep(h, dt3, inv3))
            held = min(t * inv_att, max(sus, 1.0 - dec_slope * (t - att)))
            released = level_off * max(0.0, 1.0 - (t - note_seconds) * inv_rel)
            x[k] = s * (held if t < note_seconds else released)
        # RBJ low-pass biquad, transposed direct form II, then the gater
        w0 = two_pi * min(f_cut, 0.49 * sample_rate) * inv_sr
        cw = math.cos(w0)
        alpha = math.sin(w0) / (2.0 * q)
        norm = 1.0 / (1.0 + alpha)
        bb0 = 0.5 * (1.0 - cw) * norm
        bb1 = (1.0 - cw) * norm
        aa1 = -2.0 * cw * norm
        aa2 = (1.0 - alpha) * norm
        z1 = 0.0
        z2 = 0.0
        peak = 0.0
        for k in range(n):
            xk = x[k]
            y = bb0 * xk + z1
            z1 = bb1 * xk - aa1 * y + z2
            z2 = bb0 * xk - aa2 * y
            g = f_gate * k * inv_sr
            y = y if g - math.floor(g) < 0.5 else 0.0
            x[k] = y
            peak = max(peak, abs(y))
        scale = 1.0 / peak if peak > 1e-12 else 0.0
        for k in range(n):
            out[b, k] = x[k] * scale


class InverSynth(Synth):
    """The built-in 23-parameter synth. ``render((batch, 23)) -> (batch, n_samples)`` float32."""

    def __init__(self, spec: SynthSpec) -> None:
        super().__init__(spec)
        missing = [n for n in KERNEL_PARAMS if n not in spec.names]
        if missing or spec.n_params != len(KERNEL_PARAMS):
            raise SynthError(f"synth spec {spec.name!r} does not describe inversynth: needs exactly "
                             f"the parameters {', '.join(KERNEL_PARAMS)}"
                             + (f" (missing {missing[0]!r})" if missing else ""))
        for name in ("A_sin", "a", "d", "r", "q", "v_sin", "v_saw", "v_tri", "v_sqr"):
            if spec.param(name).min <= 0:
                raise SynthError(f"synth spec {spec.name!r}: parameter {name!r} must stay > 0")
        units = str(spec.options.get("fm_depth_units", "hz"))
        if units not in FM_UNITS:
            raise SynthError(f"synth spec {spec.name!r}: options.fm_depth_units {units!r} must be "
                             f"one of {', '.join(FM_UNITS)}")
        self._fm_hz = units == "hz"
        self._note_seconds = float(spec.options.get("note_seconds", 0.75 * spec.seconds))
        if not 0 < self._note_seconds <= spec.seconds:
            raise SynthError(f"synth spec {spec.name!r}: options.note_seconds must be in "
                             f"(0, {spec.seconds}], got {self._note_seconds}")
        self._order = np.array([spec.index(n) for n in KERNEL_PARAMS])

    def render(self, values: np.ndarray) -> np.ndarray:
        """Values ``(batch, 23)`` (or ``(23,)``) -> audio ``(batch, n_samples)`` float32, peak 1."""
        v = np.asarray(values, dtype=np.float64)
        if v.ndim == 1:
            v = v[None]
        if v.ndim != 2 or v.shape[1] != self.spec.n_params:
            raise SynthError(f"inversynth values must have shape (batch, {self.spec.n_params}), "
                             f"got {v.shape}")
        if not np.all(np.isfinite(v)):
            raise SynthError("inversynth values must be finite")
        params = np.ascontiguousarray(v[:, self._order])
        # keep divisors positive even for values outside the spec (e.g. refinement steps)
        for col in (12, 13, 14, 15, 16, 17, 19, 22):
            params[:, col] = np.maximum(params[:, col], 1e-4)
        params[:, 21] = np.maximum(params[:, 21], 1.0)
        out = np.empty((v.shape[0], self.spec.n_samples), dtype=np.float32)
        _render_kernel(params, float(self.spec.sample_rate), self._note_seconds, self._fm_hz, out)
        return out
