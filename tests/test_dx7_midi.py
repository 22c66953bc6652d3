"""dx7 over MIDI: one voice dump per patch, paced for a DX7, received intact on a real JACK port."""

from __future__ import annotations

import time
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("dexed")

from instrument.cli import main  # noqa: E402
from instrument.errors import ConfigError, DeviceError, SynthError  # noqa: E402
from instrument.synths.dump_pacing import DumpPacer  # noqa: E402
from instrument.synths.dx7.sysex import parse_dump, voice_dump  # noqa: E402
from instrument.synths.midi_send import (MAX_SYSEX_BYTES, patch_messages, send_messages,  # noqa: E402
                                         synth_messages)
from instrument.synths.patch import Patch  # noqa: E402
from instrument.synths.registry import get_synth  # noqa: E402
from instrument.synths.spec import SynthSpec  # noqa: E402

JACK = "mido.backends.rtmidi/UNIX_JACK"


@pytest.fixture(scope="module")
def dx7_model(tiny_inversion_model) -> Path:
    """An untrained small network over the dx7 spec."""
    return tiny_inversion_model("dx7")


def _spec_with(dx7, **options: object) -> SynthSpec:
    from training.synth_dataset import spec_to_dict

    data = spec_to_dict(dx7.spec)
    data["options"] = {**data.get("options", {}), **options}
    return SynthSpec.from_dict(data)


def _decode(dx7, message: mido.Message, folder: Path, note: float) -> np.ndarray:
    """A received voice dump -> values ``(1, n_params)`` (through a .syx file, as a user would keep it)."""
    from instrument.synths.dx7.synth import read_voices, voice_to_patch_bytes

    data = bytes(message.bytes())
    kind, payload = parse_dump(data, "received dump")
    assert kind == "voice" and len(data) == 163
    assert voice_to_patch_bytes(np.frombuffer(payload, np.uint8))[:155] == payload  # dexed reads it alike
    path = folder / f"received-{time.monotonic_ns()}.syx"
    path.write_bytes(data)
    values = dx7.values_from_voices(read_voices(path))
    values[:, dx7.spec.index("note")] = note
    return values


def _wait_for(received: list, done, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not done(received) and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_dx7_patch_is_one_checksummed_voice_dump(dx7) -> None:
    values = dx7.random_patches(np.random.default_rng(0), 1)[0]
    (message,) = synth_messages(dx7, values, channel=3)
    assert message.type == "sysex"
    assert bytes(message.bytes()) == voice_dump(dx7.voices(values[None])[0], 3)
    inversynth = get_synth("inversynth")
    other = inversynth.random_patches(np.random.default_rng(0), 1)[0]
    assert synth_messages(inversynth, other) == patch_messages(other, inversynth.spec)


def test_the_pacer_lets_the_latest_item_out_once_per_interval() -> None:
    pacer: DumpPacer[str] = DumpPacer(0.2)
    pacer.offer("a")
    assert pacer.take_due(10.0) == "a" and pacer.take_due(10.0) is None
    pacer.offer("b")
    pacer.offer("c")                                   # replaces b: nothing queues up
    assert pacer.take_due(10.1) is None and pacer.wait_seconds(10.1) == pytest.approx(0.1)
    assert pacer.take_due(10.2) == "c" and pacer.pending is None and pacer.replaced == 1
    assert pacer.wait_seconds(10.3) is None
    with pytest.raises(ConfigError):
        DumpPacer(-1.0)


def test_the_follower_sends_at_most_one_dump_per_interval(dx7, dx7_model: Path) -> None:
    from instrument.inversion.follower import InversionFollower
    from instrument.inversion.model import load_inversion_model

    now = [100.0]
    follower = InversionFollower(load_inversion_model(dx7_model), every_seconds=0.25,
                                 min_interval_seconds=0.0, clock=lambda: now[0])
    audio = dx7.render(dx7.random_patches(np.random.default_rng(1), 3)).reshape(-1)
    bursts = [follower.push(audio[i:i + 1024]) for i in range(0, len(audio), 1024)]
    dumps = [m for burst in bursts for m in burst]
    assert follower.inferences == 9 and len(dumps) == 1 and dumps[0].type == "sysex"
    assert follower.poll() == [] and follower.poll_seconds() == pytest.approx(0.2)
    now[0] += 0.2
    (last,) = follower.poll()                           # the latest voice, once its turn came
    assert bytes(last.bytes()) == voice_dump(dx7.voices(follower.latest_values[None])[0])
    assert follower.dumps == 2 and follower.poll() == [] and follower.poll_seconds() is None


def test_a_bad_dump_interval_names_the_option(dx7, dx7_model: Path) -> None:
    from instrument.inversion.follower import InversionFollower
    from instrument.inversion.model import load_inversion_model

    spec = _spec_with(dx7, min_dump_interval_s=-1)
    with pytest.raises(SynthError, match="options.min_dump_interval_s must be in 0..60 s, got -1"):
        InversionFollower(load_inversion_model(dx7_model), synth_spec=spec)


def test_invert_midi_out_sends_the_voice_then_its_note_over_jack(dx7, dx7_model: Path, tmp_path: Path,
                                                                 jack_server: str) -> None:
    sound = tmp_path / "in.wav"
    sf.write(sound, 0.7 * dx7.render(dx7.random_patches(np.random.default_rng(2), 1))[0],
             dx7.spec.sample_rate)
    out = tmp_path / "p.json"
    received: list[mido.Message] = []
    backend = mido.Backend(JACK)
    with backend.open_input("dx7-recorder", virtual=True, callback=received.append):
        port = next(n for n in backend.get_output_names() if "dx7-recorder" in n)
        assert main(["invert", str(sound), "--model", str(dx7_model), "--refine", "0", "-o", str(out),
                     "--midi-out", port, "--midi-api", "jack", "--note", "--channel", "5"]) == 0
        _wait_for(received, lambda r: any(m.type == "note_off" for m in r))
    kinds = [m.type for m in received]  # (a JACK client late under load may repeat an event)
    assert set(kinds) == {"sysex", "note_on", "note_off"} and kinds.index("sysex") < kinds.index("note_on")
    assert len({bytes(m.bytes()) for m in received if m.type == "sysex"}) == 1
    values = Patch.load(out, dx7.spec).to_array(dx7.spec)
    note = values[dx7.spec.index("note")]
    note_on = received[kinds.index("note_on")]
    assert note_on.note == note and note_on.channel == 4 and received[kinds.index("sysex")].data[1] == 4
    back = _decode(dx7, received[0], tmp_path, note)
    np.testing.assert_array_equal(back[0], values)
    np.testing.assert_array_equal(dx7.render(back), dx7.render(values[None]))


def test_the_follower_worker_paces_dumps_to_a_jack_port(dx7, dx7_model: Path, tmp_path: Path,
                                                        jack_server: str) -> None:
    from instrument.inversion.follower import InversionFollower, InversionWorker
    from instrument.inversion.model import load_inversion_model

    interval = 0.1
    follower = InversionFollower(load_inversion_model(dx7_model), every_seconds=0.25, min_interval_seconds=0.0,
                                 synth_spec=_spec_with(dx7, min_dump_interval_s=interval))
    audio = dx7.render(dx7.random_patches(np.random.default_rng(3), 6)).reshape(-1)
    sent: list[tuple[float, bytes, np.ndarray]] = []   # (time, dump, the patch it sets)
    arrivals: list[mido.Message] = []
    backend = mido.Backend(JACK)
    with backend.open_input("dx7-follower", virtual=True, callback=arrivals.append):
        port = next(n for n in backend.get_output_names() if "dx7-follower" in n)
        with backend.open_output(port) as outport:
            time.sleep(0.2)                             # the new JACK connection takes effect

            def send(messages: list[mido.Message]) -> None:
                sent.extend((time.monotonic(), bytes(m.bytes()), follower.sent_values) for m in messages)
                send_messages(outport, messages)

            worker = InversionWorker(follower, send)
            worker.start()
            for i in range(0, len(audio), 2048):
                assert worker.submit(audio[i:i + 2048])
                time.sleep(0.01)
            worker.stop(timeout=60)
            assert worker.error is None
            _wait_for(arrivals, lambda r: len(r) >= len(sent))
    assert worker.sent == follower.dumps == len(sent) >= 2
    assert follower.dumps < follower.inferences       # voices that came too soon were replaced
    gaps = np.diff([t for t, _, _ in sent])
    assert gaps.min() >= interval - 1e-3, gaps
    np.testing.assert_array_equal(dx7.voices(sent[-1][2][None]), dx7.voices(follower.latest_values[None]))
    # what arrives is what was sent (a JACK client that misses its deadline loses or repeats events)
    by_bytes = {dump: values for _, dump, values in sent}
    assert arrivals and all(m.type == "sysex" for m in arrivals)
    for message in {bytes(m.bytes()): m for m in arrivals}.values():
        values = by_bytes[bytes(message.bytes())]
        back = _decode(dx7, message, tmp_path, values[dx7.spec.index("note")])
        np.testing.assert_array_equal(back[0], values)
        np.testing.assert_array_equal(dx7.render(back), dx7.render(values[None]))


def test_a_sysex_the_port_cannot_take_is_one_line_naming_it(jack_server: str) -> None:
    """rtmidi's JACK output drops a sysex longer than its ring buffer without a word; refuse it."""
    backend = mido.Backend(JACK)
    received: list[mido.Message] = []
    with backend.open_input("sysex-limit", virtual=True, callback=received.append):
        port = next(n for n in backend.get_output_names() if "sysex-limit" in n)
        with backend.open_output(port) as outport:
            largest = mido.Message("sysex", data=[1] * (MAX_SYSEX_BYTES - 2))
            too_long = mido.Message("sysex", data=[2] * (MAX_SYSEX_BYTES - 1))
            time.sleep(0.2)                             # the new JACK connection takes effect
            outport.send(too_long)                      # what would happen without the check
            assert send_messages(outport, [largest]) == 1
            _wait_for(received, lambda r: len(r) >= 1)
            time.sleep(0.2)
            with pytest.raises(DeviceError) as info:
                send_messages(outport, [too_long])
    assert received and {len(m.bytes()) for m in received} == {MAX_SYSEX_BYTES}  # the long one never arrived
    message = str(info.value)
    assert port in message and f"{MAX_SYSEX_BYTES + 1} bytes" in message and "\n" not in message
