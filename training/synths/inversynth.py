"""Barkan et al.'s InverSynth reference synth (section 3), rendered a batch at a time.

Signal chain per patch, ``y = gate(lowpass(env(sum_w A_w x_w(phase_w))))`` with

* four oscillators ``w in (sin, saw, tri, sqr)``, phase in cycles
  ``f_w t + I_w sin(2 pi v_w t)``; ``I_w = B_w / (2 pi v_w)`` when ``B`` is a frequency
  deviation in Hz (default: instantaneous frequency ``f + B cos(2 pi v t)``), or
  ``B_w / (2 pi)`` for the paper's literal radians index (``options.fm_depth_units``).
  Saw and square are PolyBLEP band-limited (BLEP width from the carrier frequency,
  an approximation under strong FM); sines are a folded degree-9 polynomial.
  Oscillators and envelope run in float32 (SIMD) in 256-sample blocks restarted from
  exact float64 phases; the filter runs in float64.
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


# float32 constants: numba keeps float32 arithmetic float32 only if every operand is float32
_F = np.float32
_HALF, _QUARTER, _ONE, _TWO, _FOUR, _ZERO = _F(0.5), _F(0.25), _F(1.0), _F(2.0), _F(4.0), _F(0.0)
_TWO_PI = _F(2.0 * math.pi)
_S3, _S5, _S7, _S9 = _F(-1.0 / 6.0), _F(1.0 / 120.0), _F(-1.0 / 5040.0), _F(1.0 / 362880.0)
#: Samples per block: phases restart from exact float64 offsets every block, so float32
#: inside a block keeps phase errors below 2e-5 cycles (about -90 dB).
BLOCK = 256


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _sin_cycles(c: float) -> float:
    """float32 ``sin(2 pi c)``: fold to a quarter wave, odd degree-9 polynomial (err < 4e-6)."""
    y = c - np.floor(c + _HALF)          # [-0.5, 0.5)
    y = _HALF - y if y > _QUARTER else y  # fold about +-1/4 cycle (sin symmetric)
    y = -_HALF - y if y < -_QUARTER else y
    x = _TWO_PI * y                      # [-pi/2, pi/2]
    x2 = x * x
    return x * (_ONE + x2 * (_S3 + x2 * (_S5 + x2 * (_S7 + x2 * _S9))))


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _polyblep(t: float, dt: float, inv_dt: float) -> float:
    """Polynomial band-limited step residual at phase ``t`` in [0, 1) for increment ``dt``."""
    x1 = t * inv_dt
    x2 = (t - _ONE) * inv_dt
    r1 = x1 + x1 - x1 * x1 - _ONE
    r2 = x2 * x2 + x2 + x2 + _ONE
    return r1 if t < dt else (r2 if t > _ONE - dt else _ZERO)


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _wrap32(cycles: float) -> float:
    """Fractional part of a float64 phase (cycles), as float32."""
    return _F(cycles - math.floor(cycles))


@njit(cache=True, fastmath=True, nogil=True)
def _render_kernel(params: np.ndarray, sample_rate: float, note_seconds: float, fm_hz: bool,
                   out: np.ndarray) -> None:  # pragma: no cover - numba
    """Render ``params`` (batch, 23) in KERNEL_PARAMS order into ``out`` (batch, samples).

    Pass 1 (float32, SIMD-vectorised by LLVM, in blocks of BLOCK samples whose start
    phases are exact float64): oscillators x envelope into a scratch row.
    Pass 2 (float64, sequential): biquad, gater, peak. Pass 3: normalise.
    """
    batch, n = out.shape
    inv_sr = 1.0 / sample_rate
    two_pi = 2.0 * math.pi
    x = np.empty(n, dtype=np.float64)
    xs = np.empty(BLOCK, dtype=np.float32)
    for b in range(batch):
        p = params[b]
        f0, f1, f2, f3 = p[0], p[1], p[2], p[3]
        v0, v1, v2, v3 = p[12], p[13], p[14], p[15]
        a0, a1, a2, a3 = _F(p[4]), _F(p[5]), _F(p[6]), _F(p[7])
        # FM index in cycles: B / (2 pi v) for a deviation B in Hz, B / (2 pi) for radians
        i0 = _F(p[8] / (two_pi * v0) if fm_hz else p[8] / two_pi)
        i1 = _F(p[9] / (two_pi * v1) if fm_hz else p[9] / two_pi)
        i2 = _F(p[10] / (two_pi * v2) if fm_hz else p[10] / two_pi)
        i3 = _F(p[11] / (two_pi * v3) if fm_hz else p[11] / two_pi)
        # BLEP width from the carrier frequency (FM widens the real increment; a cheap bound)
        dt1 = _F(min(max(f1 * inv_sr, 1e-6), 0.5))
        dt3 = _F(min(max(f3 * inv_sr, 1e-6), 0.5))
        inv1 = _ONE / dt1
        inv3 = _ONE / dt3
        # per-sample phase increments (cycles)
        sf0, sf1, sf2, sf3 = _F(f0 * inv_sr), _F(f1 * inv_sr), _F(f2 * inv_sr), _F(f3 * inv_sr)
        sv0, sv1, sv2, sv3 = _F(v0 * inv_sr), _F(v1 * inv_sr), _F(v2 * inv_sr), _F(v3 * inv_sr)
        att, dec, sus, rel = p[16], p[17], p[18], p[19]
        f_gate, f_cut, q = p[20], p[21], p[22]
        if note_seconds < att:
            level_off = _F(note_seconds / att)
        else:
            level_off = _F(max(sus, 1.0 - (1.0 - sus) / dec * (note_seconds - att)))
        inv_att, dec_slope, inv_rel = _F(1.0 / att), _F((1.0 - sus) / dec), _F(1.0 / rel)
        sus32, att32, off32, inv_sr32 = _F(sus), _F(att), _F(note_seconds), _F(inv_sr)
        for start in range(0, n, BLOCK):
            count = min(BLOCK, n - start)
            t_start = start * inv_sr
            o0, o1, o2, o3 = (_wrap32(f0 * t_start), _wrap32(f1 * t_start),
                              _wrap32(f2 * t_start), _wrap32(f3 * t_start))
            q0, q1, q2, q3 = (_wrap32(v0 * t_start), _wrap32(v1 * t_start),
                              _wrap32(v2 * t_start), _wrap32(v3 * t_start))
            t0 = _F(t_start)
            for j in range(count):
                kf = _F(j)
                c0 = o0 + sf0 * kf + i0 * _sin_cycles(q0 + sv0 * kf)
                c1 = o1 + sf1 * kf + i1 * _sin_cycles(q1 + sv1 * kf)
                c2 = o2 + sf2 * kf + i2 * _sin_cycles(q2 + sv2 * kf)
                c3 = o3 + sf3 * kf + i3 * _sin_cycles(q3 + sv3 * kf)
                fr1 = c1 - np.floor(c1)
                fr2 = c2 - np.floor(c2)
                fr3 = c3 - np.floor(c3)
                h = fr3 + _HALF
                h = h - _ONE if h >= _ONE else h
                sq = _ONE if fr3 < _HALF else -_ONE
                s = a0 * _sin_cycles(c0)
                s += a1 * (_TWO * fr1 - _ONE - _polyblep(fr1, dt1, inv1))
                s += a2 * (_ONE - _FOUR * abs(fr2 - _HALF))
                s += a3 * (sq + _polyblep(fr3, dt3, inv3) - _polyblep(h, dt3, inv3))
                t = t0 + kf * inv_sr32
                held = min(t * inv_att, max(sus32, _ONE - dec_slope * (t - att32)))
                released = level_off * max(_ZERO, _ONE - (t - off32) * inv_rel)
                xs[j] = s * (held if t < off32 else released)
            for j in range(count):
                x[start + j] = xs[j]
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
