"""`latent devices`: list audio devices and MIDI ports with the selected rtmidi API."""

from __future__ import annotations

import argparse

from controllers.midi_api import MIDI_APIS, midi_backend, resolve_api_name


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "devices", help="list audio devices and MIDI ports",
        description="List audio devices (sounddevice/PortAudio) and MIDI ports (mido/rtmidi).")
    parser.add_argument("--midi-api", choices=sorted(MIDI_APIS), default=None,
                        help="rtmidi API (default: $LATENT_MIDI_API, else alsa on Linux)")
    parser.set_defaults(func=run)


def _print_audio() -> None:
    try:
        import sounddevice as sd
    except OSError as exc:  # PortAudio library missing
        print(f"Audio: PortAudio not available ({exc}); install libportaudio2")
        return
    print("Audio devices (sounddevice):")
    devices = sd.query_devices()
    if not len(devices):
        print("  (none)")
    for index, dev in enumerate(devices):
        print(f"  [{index}] {dev['name']}  in={dev['max_input_channels']} out={dev['max_output_channels']}"
              f"  {dev['default_samplerate']:.0f} Hz")


def run(args: argparse.Namespace) -> int:
    _print_audio()
    api = resolve_api_name(args.midi_api)
    print(f"MIDI API: {api} ({MIDI_APIS[api]})")
    try:
        backend = midi_backend(api)
        inputs, outputs = backend.get_input_names(), backend.get_output_names()
    except (OSError, RuntimeError, SystemError) as exc:  # rtmidi raises these when the API has no server
        print(f"  MIDI API {api} unavailable: {exc}")
        return 0
    print("MIDI inputs:")
    for name in inputs or ["(none)"]:
        print(f"  {name}")
    print("MIDI outputs:")
    for name in outputs or ["(none)"]:
        print(f"  {name}")
    return 0
