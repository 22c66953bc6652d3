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
16384 Hz costs a fraction of a millisecond. The chain is linear in the oscillators, so the
synth also renders each oscillator's unnormalised stem (``render_stems``) and correlates
thousands of oscillator shapes with a target through the adjoint of filter and gater
(``correlate_stems``), which oscillator matching in the refinement search builds on.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from instrument.errors import SynthError
from instrument.synths.base import Synth
from instrument.synths.spec import SynthSpec

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


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _saw(fr: float, dt: float, inv_dt: float) -> float:
    """PolyBLEP saw at phase fraction ``fr``."""
    return _TWO * fr - _ONE - _polyblep(fr, dt, inv_dt)


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _tri(fr: float) -> float:
    """Naive triangle at phase fraction ``fr`` (its harmonics fall fast enough)."""
    return _ONE - _FOUR * abs(fr - _HALF)


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _sqr(fr: float, dt: float, inv_dt: float) -> float:
    """PolyBLEP square at phase fraction ``fr``."""
    h = fr + _HALF
    h = h - _ONE if h >= _ONE else h
    sq = _ONE if fr < _HALF else -_ONE
    return sq + _polyblep(fr, dt, inv_dt) - _polyblep(h, dt, inv_dt)


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _fm_index(depth: float, rate_hz: float, fm_hz: bool) -> float:
    """FM index in cycles: ``B / (2 pi v)`` for a deviation ``B`` in Hz, ``B / (2 pi)`` for radians."""
    return _F(depth / (2.0 * math.pi * rate_hz) if fm_hz else depth / (2.0 * math.pi))


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _blep_step(f: float, inv_sr: float) -> float:
    """PolyBLEP width from the carrier frequency (FM widens the real increment; a cheap bound)."""
    return _F(min(max(f * inv_sr, 1e-6), 0.5))


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _envelope_setup(att: float, dec: float, sus: float, rel: float, note_seconds: float
                    ) -> tuple[float, float, float, float, float, float, float]:
    """float32 constants of the linear ADSR: level at key-off, 1/a, decay slope, 1/r, s, a, key-off."""
    if note_seconds < att:
        level_off = _F(note_seconds / att)
    else:
        level_off = _F(max(sus, 1.0 - (1.0 - sus) / dec * (note_seconds - att)))
    return (level_off, _F(1.0 / att), _F((1.0 - sus) / dec), _F(1.0 / rel), _F(sus), _F(att),
            _F(note_seconds))


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _envelope(t: float, level_off: float, inv_att: float, dec_slope: float, inv_rel: float,
              sus: float, att: float, off: float) -> float:
    """ADSR level at time ``t`` seconds (float32)."""
    held = min(t * inv_att, max(sus, _ONE - dec_slope * (t - att)))
    released = level_off * max(_ZERO, _ONE - (t - off) * inv_rel)
    return held if t < off else released


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _biquad_coefficients(f_cut: float, q: float, sample_rate: float
                         ) -> tuple[float, float, float, float]:
    """RBJ low-pass ``(b0 = b2, b1, a1, a2)``, normalised by ``a0``."""
    w0 = 2.0 * math.pi * min(f_cut, 0.49 * sample_rate) / sample_rate
    cw = math.cos(w0)
    alpha = math.sin(w0) / (2.0 * q)
    norm = 1.0 / (1.0 + alpha)
    return 0.5 * (1.0 - cw) * norm, (1.0 - cw) * norm, -2.0 * cw * norm, (1.0 - alpha) * norm


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _lowpass_gate(x: np.ndarray, f_cut: float, q: float, f_gate: float,
                  sample_rate: float) -> float:  # pragma: no cover - numba
    """In place on float64 ``x``: RBJ low-pass biquad (transposed direct form II), then the gater.

    Returns:
        the peak of the output.
    """
    inv_sr = 1.0 / sample_rate
    bb0, bb1, aa1, aa2 = _biquad_coefficients(f_cut, q, sample_rate)
    z1 = 0.0
    z2 = 0.0
    peak = 0.0
    for k in range(len(x)):
        xk = x[k]
        y = bb0 * xk + z1
        z1 = bb1 * xk - aa1 * y + z2
        z2 = bb0 * xk - aa2 * y
        g = f_gate * k * inv_sr
        y = y if g - math.floor(g) < 0.5 else 0.0
        x[k] = y
        peak = max(peak, abs(y))
    return peak


@njit(cache=True, fastmath=True, nogil=True)
def _render_kernel(params: np.ndarray, sample_rate: float, note_seconds: float, fm_hz: bool,
                   normalise: bool, out: np.ndarray) -> None:  # pragma: no cover - numba
    """Render ``params`` (batch, 23) in KERNEL_PARAMS order into ``out`` (batch, samples).

    Pass 1 (float32, SIMD-vectorised by LLVM, in blocks of BLOCK samples whose start
    phases are exact float64): oscillators x envelope into a scratch row.
    Pass 2 (float64, sequential): biquad, gater, peak. Pass 3: normalise to peak 1 (if asked).
    """
    batch, n = out.shape
    inv_sr = 1.0 / sample_rate
    x = np.empty(n, dtype=np.float64)
    xs = np.empty(BLOCK, dtype=np.float32)
    for b in range(batch):
        p = params[b]
        f0, f1, f2, f3 = p[0], p[1], p[2], p[3]
        v0, v1, v2, v3 = p[12], p[13], p[14], p[15]
        a0, a1, a2, a3 = _F(p[4]), _F(p[5]), _F(p[6]), _F(p[7])
        i0, i1 = _fm_index(p[8], v0, fm_hz), _fm_index(p[9], v1, fm_hz)
        i2, i3 = _fm_index(p[10], v2, fm_hz), _fm_index(p[11], v3, fm_hz)
        dt1, dt3 = _blep_step(f1, inv_sr), _blep_step(f3, inv_sr)
        inv1 = _ONE / dt1
        inv3 = _ONE / dt3
        # per-sample phase increments (cycles)
        sf0, sf1, sf2, sf3 = _F(f0 * inv_sr), _F(f1 * inv_sr), _F(f2 * inv_sr), _F(f3 * inv_sr)
        sv0, sv1, sv2, sv3 = _F(v0 * inv_sr), _F(v1 * inv_sr), _F(v2 * inv_sr), _F(v3 * inv_sr)
        lvl, inv_att, dec_slope, inv_rel, sus, att, off = _envelope_setup(
            p[16], p[17], p[18], p[19], note_seconds)
        inv_sr32 = _F(inv_sr)
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
                s = a0 * _sin_cycles(c0)
                s += a1 * _saw(c1 - np.floor(c1), dt1, inv1)
                s += a2 * _tri(c2 - np.floor(c2))
                s += a3 * _sqr(c3 - np.floor(c3), dt3, inv3)
                xs[j] = s * _envelope(t0 + kf * inv_sr32, lvl, inv_att, dec_slope, inv_rel, sus,
                                      att, off)
            for j in range(count):
                x[start + j] = xs[j]
        peak = _lowpass_gate(x, p[21], p[22], p[20], sample_rate)
        scale = (1.0 / peak if peak > 1e-12 else 0.0) if normalise else 1.0
        for k in range(n):
            out[b, k] = x[k] * scale


@njit(cache=True, fastmath=True, nogil=True)
def _adjoint_kernel(y: np.ndarray, f_cut: float, q: float, f_gate: float, sample_rate: float,
                    out: np.ndarray) -> None:  # pragma: no cover - numba
    """``out = L^T G y``: the adjoint of the gater-after-filter, so that
    ``<y, G L u> = <out, u>`` for any ``u``. ``L^T`` is the biquad run backwards in time."""
    n = len(y)
    bb0, bb1, aa1, aa2 = _biquad_coefficients(f_cut, q, sample_rate)
    z1 = 0.0
    z2 = 0.0
    for k in range(n - 1, -1, -1):
        g = f_gate * k / sample_rate
        xk = float(y[k]) if g - math.floor(g) < 0.5 else 0.0
        yk = bb0 * xk + z1
        z1 = bb1 * xk - aa1 * yk + z2
        z2 = bb0 * xk - aa2 * yk
        out[k] = yk


@njit(cache=True, fastmath=True, nogil=True)
def _correlate_kernel(base: np.ndarray, osc: int, shapes: np.ndarray, z: np.ndarray,
                      sample_rate: float, note_seconds: float, fm_hz: bool,
                      out: np.ndarray) -> None:  # pragma: no cover - numba
    """For each oscillator shape ``(f, B, v)`` in ``shapes`` (k, 3) with the envelope of ``base``
    (23,): ``out[c] = (<z, E x_c>, <E x_c, E x_c>)`` without rendering the filter."""
    n = len(z)
    inv_sr = 1.0 / sample_rate
    inv_sr32 = _F(inv_sr)
    lvl, inv_att, dec_slope, inv_rel, sus, att, off = _envelope_setup(
        base[16], base[17], base[18], base[19], note_seconds)
    env = np.empty(n, dtype=np.float32)
    for k in range(n):
        env[k] = _envelope(_F(k * inv_sr), lvl, inv_att, dec_slope, inv_rel, sus, att, off)
    phase = np.empty(BLOCK, dtype=np.float32)
    for c in range(shapes.shape[0]):
        f, depth, v = shapes[c, 0], shapes[c, 1], max(shapes[c, 2], 1e-4)
        i = _fm_index(depth, v, fm_hz)
        dt = _blep_step(f, inv_sr)
        inv = _ONE / dt
        sf, sv = _F(f * inv_sr), _F(v * inv_sr)
        dot = 0.0
        energy = 0.0
        for start in range(0, n, BLOCK):
            count = min(BLOCK, n - start)
            t_start = start * inv_sr
            o, qv = _wrap32(f * t_start), _wrap32(v * t_start)
            for j in range(count):
                kf = _F(j)
                phase[j] = o + sf * kf + i * _sin_cycles(qv + sv * kf)
            # one loop per waveform, so each vectorises
            if osc == 0:
                for j in range(count):
                    phase[j] = _sin_cycles(phase[j])
            elif osc == 1:
                for j in range(count):
                    phase[j] = _saw(phase[j] - np.floor(phase[j]), dt, inv)
            elif osc == 2:
                for j in range(count):
                    phase[j] = _tri(phase[j] - np.floor(phase[j]))
            else:
                for j in range(count):
                    phase[j] = _sqr(phase[j] - np.floor(phase[j]), dt, inv)
            block_dot = _ZERO
            block_energy = _ZERO
            for j in range(count):
                e = phase[j] * env[start + j]
                block_dot += e * z[start + j]
                block_energy += e * e
            dot += block_dot
            energy += block_energy
        out[c, 0] = dot
        out[c, 1] = energy


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
        nyquist = spec.sample_rate / 2.0
        for name in ("f_cut",) + tuple(f"f_{w}" for w in WAVEFORMS):
            top = spec.param(name).max
            if top > nyquist:
                raise SynthError(f"synth spec {spec.name!r}: parameter {name!r} max {top:g} Hz is above "
                                 f"the Nyquist frequency {nyquist:g} Hz (sample_rate "
                                 f"{spec.sample_rate} / 2)")
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

    @property
    def oscillators(self) -> list[tuple[str, tuple[str, ...]]]:
        """Per oscillator (in :data:`WAVEFORMS` order) its amplitude parameter and the parameters
        that shape its stem, for :func:`instrument.inversion.refine.stem_match.match_oscillators`."""
        return [(f"A_{w}", (f"f_{w}", f"B_{w}", f"v_{w}")) for w in WAVEFORMS]

    def render(self, values: np.ndarray) -> np.ndarray:
        """Values ``(batch, 23)`` (or ``(23,)``) -> audio ``(batch, n_samples)`` float32, peak 1."""
        params = self._kernel_params(values)
        out = np.empty((params.shape[0], self.spec.n_samples), dtype=np.float32)
        _render_kernel(params, float(self.spec.sample_rate), self._note_seconds, self._fm_hz, True,
                       out)
        return out

    def render_stems(self, values: np.ndarray, oscillator: int) -> np.ndarray:
        """One oscillator alone at amplitude 1 through envelope, filter and gater, not normalised.

        ``render(values) == sum_w A_w * render_stems(values, w) / peak`` (the filter is linear, the
        envelope and gater multiply), which lets a search fit the amplitudes by least squares.

        Args:
            values: ``(batch, 23)`` or ``(23,)``.
            oscillator: index into :data:`WAVEFORMS`.
        Returns:
            float32 ``(batch, n_samples)``.
        """
        if not 0 <= int(oscillator) < len(WAVEFORMS):
            raise SynthError(f"inversynth has oscillators 0..{len(WAVEFORMS) - 1}, got {oscillator!r}")
        params = self._kernel_params(values)
        params[:, 4:8] = 0.0                       # KERNEL_PARAMS: the four amplitudes
        params[:, 4 + int(oscillator)] = 1.0
        out = np.empty((params.shape[0], self.spec.n_samples), dtype=np.float32)
        _render_kernel(params, float(self.spec.sample_rate), self._note_seconds, self._fm_hz, False,
                       out)
        return out

    def correlate_stems(self, values: np.ndarray, oscillator: int, shapes: np.ndarray,
                        target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Screen many shapes of one oscillator against a target without rendering the filter.

        With ``stem = G L (E x)`` (gater, low-pass, envelope of ``values``; ``x`` the oscillator of
        shape ``(f, B, v)``), ``<target, stem> = <L^T G target, E x>`` exactly, so one adjoint
        filter pass serves every shape.

        Args:
            values: ``(23,)`` values giving the envelope, filter and gater.
            oscillator: index into :data:`WAVEFORMS`.
            shapes: ``(k, 3)`` values of the oscillator's ``f``, ``B``, ``v``.
            target: ``(n_samples,)`` audio.
        Returns:
            ``<target, stem>`` ``(k,)`` and the energy of the unfiltered ``E x`` ``(k,)``.
        """
        base = self._kernel_params(values)[0]
        shapes = np.ascontiguousarray(np.asarray(shapes, np.float64).reshape(-1, 3))
        y = np.asarray(target, np.float32).reshape(-1)
        if len(y) != self.spec.n_samples:
            raise SynthError(f"target must have {self.spec.n_samples} samples, got {len(y)}")
        z = np.empty(len(y), np.float32)
        _adjoint_kernel(y, max(base[21], 1.0), base[22], base[20], float(self.spec.sample_rate), z)
        out = np.empty((len(shapes), 2), np.float64)
        _correlate_kernel(base, int(oscillator), shapes, z, float(self.spec.sample_rate),
                          self._note_seconds, self._fm_hz, out)
        return out[:, 0], out[:, 1]

    def _kernel_params(self, values: np.ndarray) -> np.ndarray:
        """Validated values -> float64 ``(batch, 23)`` in KERNEL_PARAMS order, divisors > 0."""
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
        return params
