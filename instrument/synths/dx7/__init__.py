"""The Yamaha DX7 as an inversion target, rendered by Dexed's engine (dexed-py, GPL-3.0-or-later).

* :mod:`.voice` -- the 155 voice parameters (names, DX7 ranges, sysex byte offsets) and the
  conversion between a spec's values and voice bytes (pure numpy);
* :mod:`.sysex` -- single-voice and 32-voice sysex framing, checksums and file checks (pure);
* :mod:`.synth` -- the renderer and the 32-voice bank format; the only module that imports dexed;
* :mod:`.prior` -- the musical prior random patches come from.

dexed-py is the optional extra ``dx7`` (``pip install -e ".[dx7]"``); importing this package
does not import it, :func:`instrument.synths.registry.get_synth` does when asked for ``dx7``.
"""
