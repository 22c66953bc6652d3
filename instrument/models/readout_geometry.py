"""Where the sweep and trajectory reads look, and the checks on it: pure numpy, no Keras.

The ``sweeptcn`` inversion network reads the spectrogram at each FM oscillator's (note, depth)
cells (:mod:`instrument.models.layers.sweep_readout`) and along each (note, depth, rate) path
(:mod:`instrument.models.layers.trajectory_read`). Its config (saved in the model file) holds that
geometry, validated here on construction without loading TensorFlow; the layers use the same
functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from instrument.errors import ConfigError

if TYPE_CHECKING:
    from instrument.synths.base import Synth


def _positions(values: Sequence[float], name: str, minimum: float) -> list[float]:
    out = [float(v) for v in values]
    if not out or not all(np.isfinite(v) and v >= minimum for v in out):
        raise ConfigError(f"sweep readout {name} must be a non-empty list of finite bins >= "
                          f"{minimum:g}, got {values!r}")
    return out


def check_geometry(note_bins: Sequence[float], depth_bins: Sequence[float], harmonics: int,
                   oscillators: int, n_bins: int | None = None) -> tuple[list[float], list[float]]:
    """Validate a sweep readout's geometry (and, given ``n_bins``, that every position it reads
    lies inside a spectrum of that many bins).

    Returns:
        the note and depth positions as float lists.
    Raises:
        ConfigError: naming the value that is wrong.
    """
    notes = _positions(note_bins, "note_bins", 1e-6)
    depths = _positions(depth_bins, "depth_bins", 0.0)
    if len(notes) != len(depths):
        raise ConfigError(f"sweep readout needs as many note as depth classes, got {len(notes)} "
                          f"and {len(depths)}")
    for name, value, top in (("harmonics", harmonics, 8), ("oscillators", oscillators, 64)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
            raise ConfigError(f"sweep readout {name} must be an integer in 1..{top}, got {value!r}")
    highest = harmonics * (max(notes) + max(depths))
    if n_bins is not None and highest > n_bins - 1:
        raise ConfigError(f"sweep readout reads up to bin {highest:.1f} (harmonic {harmonics} of "
                          f"the highest note plus the deepest sweep), beyond the {n_bins} bins of "
                          f"its input")
    return notes, depths


def check_read_inputs(layer: str, values: Any, joint: Any, classes: int, values_shape: str) -> None:
    """Validate the ``[values (batch, a, b), joint (batch, oscillators, classes, classes)]`` input
    shapes of a layer that reads at the readout's (note, depth) pairs.

    Raises:
        ConfigError: naming ``layer`` and the shapes it got.
    """
    if len(values) != 3 or values[1] is None or values[2] is None or len(joint) != 4 \
            or tuple(joint[2:]) != (classes, classes):
        raise ConfigError(f"{layer} needs {values_shape} and joint (batch, oscillators, {classes}, "
                          f"{classes}), got {values}, {joint}")


def oscillator_params(synth: Synth, slot: int, kind: str) -> list[Any]:
    """Each FM oscillator's parameter at ``slot`` of its shape (0 note, 1 depth, 2 rate) in a synth
    exposing ``synth.oscillators`` (``[(amplitude, (note, depth, rate)), ...]``).

    Raises:
        ConfigError: the synth has no FM oscillators, or their ``kind`` classes differ.
    """
    spec = synth.spec
    oscillators = getattr(synth, "oscillators", None)
    if not oscillators:
        raise ConfigError(f"the sweep readout needs a synth with FM oscillators (e.g. inversynth); "
                          f"{spec.name!r} has none")
    params = [spec.param(shape[slot]) for _, shape in oscillators]
    if any(not np.array_equal(p.grid(), params[0].grid()) for p in params):
        raise ConfigError(f"the sweep readout needs the same {kind} classes for every oscillator "
                          f"of {spec.name!r}")
    return params


def sweep_positions(note_bins: Sequence[float], depth_bins: Sequence[float],
                    harmonics: int) -> np.ndarray:
    """Where a sweep readout reads: ``(3 * harmonics, notes * depths)`` fractional bins, row
    ``3 * (h - 1) + m`` for map ``m`` (centre ``h f``, upper edge ``h (f + B)``, lower edge
    ``h |f - B|``) of harmonic ``h``, column ``note * depths + depth``."""
    note = np.asarray(note_bins, dtype=np.float64)[:, None]
    depth = np.asarray(depth_bins, dtype=np.float64)[None, :]
    grids = []
    for h in range(1, harmonics + 1):
        grids += [h * np.broadcast_to(note, (note.size, depth.size)), h * (note + depth),
                  h * np.abs(note - depth)]
    return np.stack([g.reshape(-1) for g in grids])


def sweep_geometry(synth: Synth) -> dict[str, tuple]:
    """Readout positions and rows of a synth with FM oscillators (``synth.oscillators``:
    ``[(amplitude, (note, depth, rate)), ...]``, depths in Hz of deviation), as
    :class:`instrument.inversion.networks.config.SweepReadoutConfig` fields.

    Raises:
        ConfigError: the synth has no FM oscillators, its depths are not in Hz, or its
            oscillators' note or depth grids differ.
    """
    spec = synth.spec
    notes = oscillator_params(synth, 0, "note")
    units = str(spec.options.get("fm_depth_units", "hz"))
    if units != "hz":
        raise ConfigError(f"sweeptcn reads FM depths as Hz of deviation; synth {spec.name!r} has "
                          f"options.fm_depth_units {units!r}")
    depths = oscillator_params(synth, 1, "depth")
    bin_hz = spec.sample_rate / spec.n_fft
    return {"sweep_note_bins": tuple(float(v) for v in notes[0].grid() / bin_hz),
            "sweep_depth_bins": tuple(float(v) for v in depths[0].grid() / bin_hz),
            "sweep_note_rows": tuple(spec.index(p.name) for p in notes),
            "sweep_depth_rows": tuple(spec.index(p.name) for p in depths)}


def check_rates(rates: Sequence[float]) -> list[float]:
    """FM rate classes in cycles per frame hop, each in 0..0.5; ConfigError otherwise."""
    values = [float(r) for r in rates]
    if not values or not all(np.isfinite(r) and 0.0 <= r <= 0.5 for r in values):
        raise ConfigError(f"trajectory rates must be cycles per frame hop in 0..0.5 (one per rate "
                          f"class), got {list(rates)!r}")
    return values


def check_trajectory_geometry(rates: Sequence[float], rate_rows: Sequence[int],
                              sweep_rows: Sequence[int], classes: int, n_params: int) -> None:
    """Validate a ``sweeptcn`` config's trajectory fields against its sweep rows.

    Raises:
        ConfigError: naming the value that is wrong.
    """
    if len(check_rates(rates)) != classes:
        raise ConfigError(f"trajectory_rates needs one rate per class ({classes}), got {len(rates)}")
    rows = [*sweep_rows, *rate_rows]
    if len(rate_rows) * 2 != len(sweep_rows) or len(set(rows)) != len(rows) \
            or min(rate_rows) < 0 or max(rate_rows) >= n_params:
        raise ConfigError(f"trajectory_rate_rows {list(rate_rows)} must give one parameter index in "
                          f"0..{n_params - 1} per oscillator, distinct from the note and depth rows")


def trajectory_geometry(synth: Synth) -> dict[str, tuple]:
    """The trajectory fields of a synth with FM oscillators (as
    :func:`sweep_geometry`): rate classes in cycles per frame hop and
    each oscillator's rate row.

    Raises:
        ConfigError: the synth has no FM oscillators, their rate grids differ, or its frames are
            not centred on whole hops.
    """
    spec = synth.spec
    rates = oscillator_params(synth, 2, "rate")
    if spec.n_fft != 2 * spec.hop_length:
        raise ConfigError(f"the trajectory read places frame t at t hops (n_fft = 2 hop_length); "
                          f"synth {spec.name!r} has n_fft {spec.n_fft}, hop_length {spec.hop_length}")
    hop_seconds = spec.hop_length / spec.sample_rate
    return {"trajectory_rates": tuple(float(v) * hop_seconds for v in rates[0].grid()),
            "trajectory_rate_rows": tuple(spec.index(p.name) for p in rates)}
