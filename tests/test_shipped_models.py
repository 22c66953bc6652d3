"""Every shipped model file loads in a fresh process and gives its stored outputs.

Model files name their layers ``latent>ClassName``; moving a module must not break loading. The
reference outputs (``tests/data/shipped_model_outputs.npz``) were computed once from a fixed input;
``python tests/test_shipped_models.py --write`` refreshes them after a deliberate model change.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = ROOT / "presets" / "models"
REFERENCE = Path(__file__).resolve().parent / "data" / "shipped_model_outputs.npz"
SEED = 1234

#: Runs in a fresh interpreter: nothing imported by the tests registers layers for it.
SCRIPT = """
import json, sys
from pathlib import Path
import numpy as np
from instrument.errors import ModelError
from instrument.inversion.model import load_inversion_model, read_inversion_meta
from instrument.models.io import load_latent_model

out_dir = Path(sys.argv[1])
done = {}
for path in map(Path, sys.argv[2:]):
    try:
        read_inversion_meta(path)
        loaded = load_inversion_model(path)
        net, shape = loaded.model, loaded.config.input_shape
    except ModelError:
        loaded = load_latent_model(path, warm_up=False)
        net, shape = loaded.model, loaded.config.input_shape
    x = np.random.default_rng(%d).random((2, *shape), dtype=np.float32)
    np.save(out_dir / (path.stem + ".npy"), np.asarray(net(x, training=False)))
    done[path.stem] = list(shape)
print(json.dumps(done))
""" % SEED


def shipped_models() -> list[Path]:
    return sorted(MODELS_DIR.glob("*.keras"))


def run_fresh(paths: list[Path], out_dir: Path) -> dict[str, np.ndarray]:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(out_dir), *map(str, paths)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = json.loads(proc.stdout.strip().splitlines()[-1])
    return {name: np.load(out_dir / f"{name}.npy") for name in names}


def test_every_shipped_model_has_a_reference() -> None:
    stored = set(np.load(REFERENCE).files)
    assert {p.stem for p in shipped_models()} == stored


def test_shipped_models_load_in_fresh_process_and_match_reference(tmp_path: Path) -> None:
    reference = np.load(REFERENCE)
    outputs = run_fresh(shipped_models(), tmp_path)
    assert set(outputs) == set(reference.files)
    for name, got in outputs.items():
        want = reference[name]
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=name)


if __name__ == "__main__":
    if "--write" in sys.argv:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            arrays = run_fresh(shipped_models(), Path(tmp))
        np.savez_compressed(REFERENCE, **arrays)
        print(f"wrote {REFERENCE} ({', '.join(sorted(arrays))})")
    else:
        raise SystemExit(pytest.main([__file__, "-q"]))
