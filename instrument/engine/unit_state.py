"""The performer's control state over the latent units: faders, knobs, mute and solo.

Every unit ``i`` has a fader ``scale[i]`` and a knob ``knob[i]``; both are
multipliers applied to the unit's activation. The knob is the unit's *second*
multiplier (nanoKONTROL2 pan pot over the fader, as in Sarroff & Casey's
interface where "pan pot and fader control a scaling factor"), so the
effective factor is ``scale * knob``. The wet/dry mix of transfer models is a
dedicated ``wet_dry`` action handled by the engine, not a knob.

Mute and solo follow a mixing desk: a muted unit passes 0; when any unit is
soloed, only soloed (and unmuted) units pass. ``zero_all`` sets every fader to
0 (Sarroff & Casey's "Set"); ``reset_all`` restores every fader and knob to 1
and clears mute and solo ("Record": original activations).

All arrays are preallocated; :meth:`UnitState.effective` writes the effective
scale vector into a preallocated array without allocating.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from instrument.errors import ConfigError

#: Upper bound of a fader or knob value (a unit can be boosted up to this factor).
MAX_SCALE = 8.0


class UnitState:
    """Fader, knob, mute and solo state of ``n_units`` latent units.

    Attributes:
        scales: fader values, shape ``(n_units,)`` float32, each in ``[0, MAX_SCALE]``.
        knobs: knob (second multiplier) values, shape ``(n_units,)`` float32.
        muted: shape ``(n_units,)`` bool.
        soloed: shape ``(n_units,)`` bool.
    """

    def __init__(self, n_units: int) -> None:
        if not isinstance(n_units, int) or n_units <= 0:
            raise ConfigError(f"n_units must be a positive integer, got {n_units!r}")
        self.n_units = n_units
        self.scales = np.ones(n_units, dtype=np.float32)
        self.knobs = np.ones(n_units, dtype=np.float32)
        self.muted = np.zeros(n_units, dtype=bool)
        self.soloed = np.zeros(n_units, dtype=bool)
        self._effective = np.ones(n_units, dtype=np.float32)
        self._gate = np.ones(n_units, dtype=bool)
        self._dirty = True

    # ----------------------------------------------------------------- checks
    def _unit(self, unit: Any) -> int:
        if isinstance(unit, bool) or not isinstance(unit, (int, np.integer)):
            raise ConfigError(f"unit index must be an integer, got {unit!r}")
        if not 0 <= int(unit) < self.n_units:
            raise ConfigError(f"unit {unit} out of range 0..{self.n_units - 1}")
        return int(unit)

    @staticmethod
    def _value(value: Any, what: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ConfigError(f"{what} must be a number, got {value!r}")
        value = float(value)
        if not np.isfinite(value) or not 0.0 <= value <= MAX_SCALE:
            raise ConfigError(f"{what} must be in 0..{MAX_SCALE}, got {value}")
        return value

    # ---------------------------------------------------------------- actions
    def set_scale(self, unit: Any, value: Any) -> None:
        """Fader of ``unit`` (0-based) to ``value`` in ``[0, MAX_SCALE]``."""
        self.scales[self._unit(unit)] = self._value(value, "scale")
        self._dirty = True

    def set_knob(self, unit: Any, value: Any) -> None:
        """Knob (second multiplier) of ``unit`` to ``value`` in ``[0, MAX_SCALE]``."""
        self.knobs[self._unit(unit)] = self._value(value, "knob")
        self._dirty = True

    def set_mute(self, unit: Any, on: Any) -> None:
        self.muted[self._unit(unit)] = bool(on)
        self._dirty = True

    def set_solo(self, unit: Any, on: Any) -> None:
        self.soloed[self._unit(unit)] = bool(on)
        self._dirty = True

    def zero_all(self) -> None:
        """Every fader to 0 (knobs, mute and solo unchanged)."""
        self.scales[:] = 0.0
        self._dirty = True

    def reset_unit(self, unit: Any) -> None:
        """Fader and knob of one unit back to 1 (mute/solo unchanged)."""
        index = self._unit(unit)
        self.scales[index] = 1.0
        self.knobs[index] = 1.0
        self._dirty = True

    def reset_all(self) -> None:
        """Every fader and knob to 1, nothing muted or soloed: original activations."""
        self.scales[:] = 1.0
        self.knobs[:] = 1.0
        self.muted[:] = False
        self.soloed[:] = False
        self._dirty = True

    # ---------------------------------------------------------------- reading
    def effective(self) -> np.ndarray:
        """The factor multiplied into each latent unit, shape ``(n_units,)`` float32.

        ``scale * knob`` for units that pass, 0 for muted units and, while any
        unit is soloed, for every unit that is not soloed. Returns a view of a
        preallocated array (recomputed in place only after a change); do not
        keep it across actions, copy it.
        """
        if self._dirty:
            np.multiply(self.scales, self.knobs, out=self._effective)
            if self.soloed.any():
                np.logical_not(self.muted, out=self._gate)
                np.logical_and(self._gate, self.soloed, out=self._gate)
            else:
                np.logical_not(self.muted, out=self._gate)
            np.multiply(self._effective, self._gate, out=self._effective)
            self._dirty = False
        return self._effective

    # ------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """Plain lists (YAML friendly) of the whole state."""
        return {
            "n_units": self.n_units,
            "scales": [round(float(v), 6) for v in self.scales],
            "knobs": [round(float(v), 6) for v in self.knobs],
            "muted": [int(i) for i in np.flatnonzero(self.muted)],
            "soloed": [int(i) for i in np.flatnonzero(self.soloed)],
        }

    def load_dict(self, data: Mapping[str, Any], source: str = "unit state") -> None:
        """Replace the whole state from :meth:`to_dict` output; validates everything first."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a mapping, got {type(data).__name__}")
        n_units = data.get("n_units", self.n_units)
        if n_units != self.n_units:
            raise ConfigError(f"{source}: made for {n_units} units, this model has {self.n_units}")
        unknown = set(data) - {"n_units", "scales", "knobs", "muted", "soloed"}
        if unknown:
            raise ConfigError(f"{source}: unknown field(s) {sorted(unknown)}")
        arrays = {}
        for key in ("scales", "knobs"):
            values = data.get(key, [1.0] * self.n_units)
            if not isinstance(values, list) or len(values) != self.n_units:
                raise ConfigError(f"{source}: {key} must be a list of {self.n_units} numbers")
            arrays[key] = [self._value(v, f"{source}: {key}") for v in values]
        flags = {}
        for key in ("muted", "soloed"):
            units = data.get(key, []) or []
            if not isinstance(units, list):
                raise ConfigError(f"{source}: {key} must be a list of unit indices")
            try:
                flags[key] = [self._unit(u) for u in units]
            except ConfigError as exc:
                raise ConfigError(f"{source}: {key}: {exc}") from exc
        self.scales[:] = arrays["scales"]
        self.knobs[:] = arrays["knobs"]
        self.muted[:] = False
        self.muted[flags["muted"]] = True
        self.soloed[:] = False
        self.soloed[flags["soloed"]] = True
        self._dirty = True
