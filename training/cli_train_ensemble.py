"""`latent train ensemble`: join trained inversion models into one file that averages them."""

from __future__ import annotations

import argparse

from instrument.cli_support import bounded_int, check_input_file, check_outputs
from instrument.errors import ModelError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ensemble", help="join trained inversion models into one averaging model file",
        description="Join two or more inversion model files of one synth (same input and head) "
        "into one .keras file whose class probabilities are the mean of theirs. `latent invert`, "
        "`latent bench inversion` and `latent perform --invert-model` take it like any model.")
    parser.add_argument("models", nargs="+", metavar="MODEL", help="inversion model files (.keras)")
    parser.add_argument("-o", "--output", "--out", dest="out", required=True, metavar="FILE.keras",
                        help="ensemble file to write (.keras)")
    parser.add_argument("--calibrate", type=bounded_int(0, 1000000), default=0, metavar="N",
                        help="fit per-parameter member weights on N seeded calibration sounds "
                             "(neither the validation nor the test set; default 0: equal weights)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the calibration sounds")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for model in args.models:
        check_input_file(model, "model file", ModelError)
    if not str(args.out).endswith(".keras"):
        raise ModelError(f"ensemble file name must end with .keras: {args.out}")
    check_outputs(files=[(args.out, "ensemble file")], inputs=args.models)

    from training.inversion.ensemble import save_inversion_ensemble

    path = save_inversion_ensemble(args.models, args.out, args.calibrate, args.seed)
    how = f"weights fitted on {args.calibrate} sounds" if args.calibrate else "equal weights"
    print(f"wrote {path}: {len(args.models)} models, {how}")
    return 0
