"""Audio loading and saving: formats, resampling, mono mix-down and every bad-file error."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from instrument.io.audio_files import list_audio_files, load_audio, save_audio
from instrument.config import AudioConfig
from instrument.errors import AudioFileError

SR = 22050


def tone(seconds: float = 0.5, freq_hz: float = 440.0, sample_rate: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (0.5 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


@pytest.mark.parametrize("suffix, subtype, atol", [
    (".wav", "PCM_16", 1e-4), (".wav", "FLOAT", 1e-7), (".flac", "PCM_16", 1e-4),
    (".aiff", "PCM_16", 1e-4), (".aif", "PCM_24", 1e-6),
])
def test_lossless_round_trip(tmp_path, suffix: str, subtype: str, atol: float) -> None:
    y = tone()
    path = tmp_path / f"tone{suffix}"
    fmt = "AIFF" if suffix.startswith(".aif") else None
    sf.write(str(path), y, SR, subtype=subtype, format=fmt)
    loaded = load_audio(path, AudioConfig(sample_rate=SR))
    assert loaded.dtype == np.float32 and loaded.shape == y.shape
    np.testing.assert_allclose(loaded, y, atol=atol)


def test_ogg_vorbis_round_trip(tmp_path) -> None:
    y = tone()
    path = tmp_path / "tone.ogg"
    sf.write(str(path), y, SR, format="OGG", subtype="VORBIS")
    loaded = load_audio(path, AudioConfig(sample_rate=SR))
    assert abs(len(loaded) - len(y)) < 2048
    n = min(len(loaded), len(y))
    assert np.corrcoef(loaded[:n], y[:n])[0, 1] > 0.99


def test_save_audio_writes_16_bit_wav(tmp_path) -> None:
    path = save_audio(tmp_path / "sub" / "out.wav", np.full(100, 2.0, np.float32), SR)
    info = sf.info(str(path))
    assert (info.subtype, info.samplerate, info.channels) == ("PCM_16", SR, 1)
    assert load_audio(path).max() == pytest.approx(1.0, abs=1e-4)  # clipped to [-1, 1]


def test_resampling_keeps_pitch_and_duration(tmp_path) -> None:
    path = tmp_path / "tone44k.wav"
    sf.write(str(path), tone(1.0, 1000.0, 44100), 44100)
    y = load_audio(path, AudioConfig(sample_rate=SR))
    assert len(y) == pytest.approx(SR, abs=2)
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    assert np.argmax(spectrum) * SR / len(y) == pytest.approx(1000.0, abs=2.0)


def test_stereo_is_mixed_to_mono(tmp_path) -> None:
    left, right = tone(0.2, 440.0), tone(0.2, 660.0)
    path = tmp_path / "stereo.wav"
    sf.write(str(path), np.stack([left, right], axis=1), SR, subtype="FLOAT")
    y = load_audio(path)
    assert y.ndim == 1
    np.testing.assert_allclose(y, 0.5 * (left + right), atol=1e-6)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(AudioFileError, match="nothing.wav"):
        load_audio(tmp_path / "nothing.wav")


def test_directory_is_not_a_file(tmp_path) -> None:
    with pytest.raises(AudioFileError, match="not a file"):
        load_audio(tmp_path)


def test_empty_file(tmp_path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioFileError, match="empty.wav"):
        load_audio(path)


def test_corrupt_bytes(tmp_path, rng: np.random.Generator) -> None:
    path = tmp_path / "corrupt.wav"
    path.write_bytes(rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(AudioFileError, match="corrupt.wav"):
        load_audio(path)


def test_header_without_samples(tmp_path) -> None:
    path = tmp_path / "nosamples.wav"
    sf.write(str(path), np.zeros(0, np.float32), SR)
    with pytest.raises(AudioFileError, match="nosamples.wav"):
        load_audio(path)


def test_nan_samples(tmp_path) -> None:
    y = tone(0.1)
    y[100] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(str(path), y, SR, subtype="FLOAT")
    with pytest.raises(AudioFileError, match="nan.wav.*non-finite"):
        load_audio(path)


def test_too_long(tmp_path) -> None:
    path = tmp_path / "long.wav"
    sf.write(str(path), np.zeros(3 * SR, np.float32), SR)
    with pytest.raises(AudioFileError, match="long.wav.*longer"):
        load_audio(path, AudioConfig(sample_rate=SR, max_seconds=2.0))
    with pytest.raises(AudioFileError, match="long.wav"):
        load_audio(path, max_seconds=1.0)
    assert len(load_audio(path, max_seconds=4.0)) == 3 * SR


def test_list_audio_files(tmp_path) -> None:
    (tmp_path / "a").mkdir()
    for name in ("a/x.wav", "b.flac", "c.txt", "d.OGG"):
        (tmp_path / name).write_bytes(b"x")
    found = list_audio_files(tmp_path)
    assert found == sorted(found)
    assert {p.name for p in found} == {"x.wav", "b.flac", "d.OGG"}


def test_save_audio_writes_every_supported_suffix(tmp_path) -> None:
    import numpy as np

    from instrument.io.audio_files import load_audio, save_audio
    from instrument.config import AudioConfig

    y = (0.5 * np.sin(np.arange(2205) * 0.1)).astype(np.float32)
    for suffix in (".wav", ".aif", ".aiff", ".flac", ".ogg"):
        path = save_audio(tmp_path / f"x{suffix}", y, 22050)
        back = load_audio(path, AudioConfig())
        assert abs(len(back) - len(y)) < 64, suffix


def test_save_audio_refuses_unknown_suffix(tmp_path) -> None:
    import numpy as np
    import pytest

    from instrument.io.audio_files import save_audio
    from instrument.errors import AudioFileError

    with pytest.raises(AudioFileError, match="x.xyz"):
        save_audio(tmp_path / "x.xyz", np.zeros(10, np.float32), 22050)
