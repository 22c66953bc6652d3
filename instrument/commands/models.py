"""`latent models`: the shipped models and any given files, with kind, units, rate and live latency."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from instrument.errors import ModelError
from instrument.inversion.model import read_inversion_meta
from instrument.models.names import model_name, stored_metadata
from presets import PRESETS_DIR

SHIPPED_DIR = PRESETS_DIR / "models"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models", help="list shipped and given models (kind, units, sample rate, live latency)",
        description="List the shipped models (presets/models) and any MODEL files given, with their "
                    "name (what --model NAME takes), kind, units (latent faders, or synth parameters "
                    "of an inversion model), sample rate and the live engine latency with the default "
                    "phase settings (latent models; loads each one). --no-latency reads only the files' "
                    "metadata (fast, no TensorFlow).")
    parser.add_argument("models", nargs="*", metavar="MODEL", help="more model files (.keras) to list")
    parser.add_argument("--no-latency", action="store_true",
                        help="skip loading the models: no latency column, no TensorFlow")
    parser.set_defaults(func=run)


def resolve_named_model(value: str, *, live: bool = False) -> Path:
    """A ``--model`` value as a file: the path itself, else a shipped model's name
    (``presets/models/NAME.keras``; with ``live``, its ``NAME-live`` variant when one ships)."""
    path = Path(value)
    if path.is_file():
        return path
    live_variant = SHIPPED_DIR / f"{value}-live.keras"
    shipped = SHIPPED_DIR / f"{value}.keras"
    if live and live_variant.is_file():
        return live_variant
    if shipped.is_file():
        return shipped
    names = ", ".join(sorted(p.stem for p in SHIPPED_DIR.glob("*.keras"))) or "none"
    raise ModelError(f"model file not found: {value} (shipped model names: {names})")


def describe(path: Path) -> dict[str, Any]:
    """Name, kind, units and sample rate from a model file's metadata (no Keras)."""
    meta = stored_metadata(path)
    if meta is not None and "config" in meta and "kind" in meta:
        config = meta["config"]
        spectral = meta.get("spectral") or config.get("spectral") or {}
        units = config.get("latent_channels")
        if config.get("arch") == "dense" and config.get("hidden_units"):
            units = list(config["hidden_units"])[-1]
        causal = bool(config.get("causal")) or config.get("arch") == "dense"
        return {"name": model_name(path), "kind": str(meta["kind"]), "units": units,
                "rate": (spectral.get("audio") or {}).get("sample_rate"), "latent": True,
                "causal": causal}

    try:
        inv = read_inversion_meta(path)
    except ModelError:
        raise ModelError(f"{path}: neither a latent model nor an inversion model") from None
    spec = inv.get("spec") or {}
    name = path.stem if path.stem not in ("model", "ensemble") else path.resolve().parent.name
    return {"name": name, "kind": f"inversion ({inv.get('synth')})",
            "units": len(spec.get("parameters") or []), "rate": spec.get("sample_rate"),
            "latent": False, "causal": None}


def live_latency_ms(path: Path) -> float:
    """The engine latency of ``path`` played alone with the default phase settings."""
    from instrument.engine.engine import Engine
    from instrument.models.io import load_latent_model

    model = load_latent_model(path, warm_up=False)
    return float(Engine(model.spectral, [model], [path.stem]).latency_ms)


def run(args: argparse.Namespace) -> int:
    given = [Path(m) for m in args.models]
    for path in given:
        if not path.is_file():
            resolve_named_model(str(path))  # a name is fine; else ModelError naming it
    paths = sorted(SHIPPED_DIR.glob("*.keras")) + [resolve_named_model(str(p)) for p in given]
    rows = []
    for path in paths:
        info = describe(path)
        latency = "-"
        if info["latent"] and not args.no_latency:
            latency = f"{live_latency_ms(path):.1f} ms"
        shipped = path.resolve().parent == SHIPPED_DIR.resolve()
        rows.append((info["name"], info["kind"], str(info["units"]), f"{info['rate']} Hz", latency,
                     "shipped" if shipped else str(path)))
    header = ("NAME", "KIND", "UNITS", "RATE", "LIVE LATENCY", "FILE")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    if not rows:
        print("(no models: `make models` builds the shipped ones)")
    return 0
