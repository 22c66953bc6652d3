"""`latent bench cli_startup`: how fast `latent` answers before any work (help, a missing input).

Each row runs ``latent ARGS`` in a fresh Python process, ``--repeat`` times, and prints the median
and largest wall time, the exit status, and whether the run imported TensorFlow (recorded at exit
inside the child process). The target: ``--help`` and an argument error answer in under 1 s and
never import TensorFlow. :func:`run_latent` is the one way tests and this benchmark start the CLI.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from instrument.cli_support import bounded_int

ROOT = Path(__file__).resolve().parents[1]

#: Runs the CLI as ``python -m instrument.cli`` does and records at exit whether TensorFlow was
#: imported (argv[1]: the record file; the rest: the CLI's arguments).
_RECORDING_MAIN = ("import atexit, runpy, sys\n"
                   "record, sys.argv = sys.argv[1], ['latent'] + sys.argv[2:]\n"
                   "atexit.register(lambda: open(record, 'w').write(str('tensorflow' in sys.modules)))\n"
                   "runpy.run_module('instrument.cli', run_name='__main__')\n")

#: The calls measured: every top-level command's help, and a missing input for the main jobs
#: (MISSING is replaced by a path that does not exist, OUT by a folder in a temporary place).
CALLS: tuple[tuple[str, ...], ...] = (
    ("--help",), ("perform", "--help"), ("transfer", "--help"), ("train", "--help"),
    ("invert", "--help"), ("render", "--help"), ("dataset", "--help"), ("synth", "--help"),
    ("bench", "--help"), ("models", "--help"), ("demo", "--help"), ("devices", "--help"),
    ("transfer", "MISSING", "-o", "OUT"), ("invert", "MISSING", "-o", "OUT/p.json"),
    ("render", "MISSING", "-o", "OUT/o.wav"), ("train", "autoencoder", "MISSING", "-o", "OUT"),
)


@dataclass(frozen=True)
class CliRun:
    """One ``latent`` call in a fresh process."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    tensorflow: bool


def run_latent(args: Sequence[str], cwd: Path | None = None, timeout_s: float = 300.0) -> CliRun:
    """Run ``latent ARGS`` in a fresh process (this checkout on ``PYTHONPATH``, TensorFlow's log
    variables unset as a user has them) and time it."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "GRPC_VERBOSITY")}
    env["PYTHONPATH"] = str(ROOT)
    with tempfile.TemporaryDirectory() as folder:
        record = Path(folder) / "tensorflow"
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _RECORDING_MAIN, str(record), *args],
                              cwd=cwd or ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
        seconds = time.perf_counter() - start
        tensorflow = record.is_file() and record.read_text() == "True"
    return CliRun(proc.returncode, proc.stdout, proc.stderr, seconds, tensorflow)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="latent bench cli_startup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=bounded_int(1, 100), default=5,
                        help="runs of each call; the table gives the median and the largest (default: 5)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for call in CALLS:
            argv_call = [str(work / "not-there.wav") if a == "MISSING" else
                         str(work / "out" / a[4:]) if a.startswith("OUT/") else
                         str(work / "out") if a == "OUT" else a for a in call]
            runs = [run_latent(argv_call, cwd=work) for _ in range(args.repeat)]
            rows.append((" ".join(call), statistics.median(r.seconds for r in runs),
                         max(r.seconds for r in runs), runs[0].returncode, any(r.tensorflow for r in runs)))
    print(f"latent start-up, fresh process each, {args.repeat} runs per call (target: under 1 s, "
          "no TensorFlow)\n")
    print("| call | median s | max s | exit | TensorFlow imported |")
    print("|---|---|---|---|---|")
    for name, median, top, code, tf in rows:
        print(f"| latent {name} | {median:.2f} | {top:.2f} | {code} | {'yes' if tf else 'no'} |")
    return 0
