"""`latent demo` (what `make demo` runs): play the instrument on the shipped model and demo loop.

With a sound card (PortAudio lists an output device) and a display, this starts ``latent perform`` on
``presets/models/reconstruct.keras`` and ``presets/audio/demo-loop.wav`` (looping) with the window.
Without a sound card or a display (or with ``--offline``), it says which is missing and renders the
shipped automation ``presets/automation/demo.jsonl`` through the same engine to ``demo-out.wav`` and a
spectrogram ``demo-out.png``, then prints the quick phase-reconstruction benchmark table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from instrument.app.demo import DEMO_INPUT, DEMO_MODEL, missing_for_live, render_offline


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="play (or, without sound card or display, render) the shipped demo",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_arguments(parser)
    parser.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--headless", action="store_true", help="perform without the window")
    parser.add_argument("--offline", action="store_true", help="render the demo automation, do not perform")
    parser.add_argument("--duration", type=float, default=None, help="stop the live demo after S seconds")
    parser.add_argument("-o", "--output", type=Path, default=Path("demo-out.wav"),
                        help="offline render: WAV file to write (a PNG is written beside it)")
    parser.add_argument("--no-bench", action="store_true", help="skip the phase benchmark table (offline)")


def perform_live(headless: bool, duration_s: float | None) -> int:
    """Run ``latent perform`` on the shipped model and loop."""
    from instrument.cli import main as cli_main  # lazy: instrument.cli imports this module to build its parser

    argv = ["perform", "--input", str(DEMO_INPUT), "--loop"]
    if DEMO_MODEL.is_file():
        argv += ["--model", str(DEMO_MODEL)]
    else:
        print(f"demo: {DEMO_MODEL.name} is not installed (`make models`); playing analysis/resynthesis only")
        argv += ["--model", "none"]
    if headless:
        argv.append("--headless")
    if duration_s:
        argv += ["--duration", str(duration_s)]
    print("demo: latent " + " ".join(argv))
    return cli_main(argv)


def run(args: argparse.Namespace) -> int:
    missing = [] if args.offline else missing_for_live(args.headless)
    if not args.offline and not missing:
        return perform_live(args.headless, args.duration)
    for reason in missing:
        print(f"demo: cannot perform live: {reason}")
    if missing:
        print("demo: rendering the shipped demo offline instead")
    code = render_offline(args.output)
    if code == 0 and not args.no_bench:
        from benchmarks import phase as phase_bench

        print()
        return phase_bench.main(["--quick"])
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m instrument.commands.demo``: the same as ``latent demo``."""
    from instrument.cli import main as cli_main  # lazy: instrument.cli imports this module to build its parser

    return cli_main(["demo", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
