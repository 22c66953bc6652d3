"""`latent train inversion`: train a sound -> synth-patch network on seeded synth renders."""

from __future__ import annotations

import argparse

from instrument.cli_support import (add_hidden_alias, bounded_float, bounded_int, check_input_folder,
                                    check_outputs, one_input)
from instrument.errors import DatasetError
from training.distributed.inversion import train_inversion_distributed
from training.distributed.latent import add_strategy_options
# Literal copies of instrument.inversion.networks.config.ARCHS/HEADS so `latent --help` does not
# import Keras (tests/test_inversion_models.py checks they agree).
ARCHS = ("conv6xl", "freqtcn", "sweeptcn")
HEADS = ("sigmoid", "softmax", "regression")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inversion", help="train a parameter-inversion network (sound -> synth patch)",
        description="Train an inversion network (Barkan's Conv6XL, or the frequency-aware freqtcn, "
        "or sweeptcn: freqtcn plus a readout of each FM oscillator's note and depth) on "
        "random patches rendered on the fly from a seeded generator. Writes model.keras, "
        "checkpoint.keras/state.json (every epoch), tensorboard/, metrics.json and loss.png.")
    parser.add_argument("--synth", default="inversynth", help="synth name (default inversynth)")
    parser.add_argument("--arch", default="conv6xl", choices=ARCHS, help="network (default conv6xl)")
    parser.add_argument("--head", default="sigmoid", choices=HEADS,
                        help="sigmoid+BCE (Barkan), softmax per parameter, or regression (MSE)")
    parser.add_argument("-o", "--output", "--out", dest="out", default="runs/inversion", metavar="DIR",
                        help="output folder (model.keras, checkpoints, metrics.json, loss.png)")
    parser.add_argument("--epochs", type=bounded_int(1, 100000), default=20, help="most training epochs")
    parser.add_argument("--steps-per-epoch", type=bounded_int(1, 1000000), default=200, help="batches per epoch")
    parser.add_argument("--batch-size", type=bounded_int(1, 65536), default=32, help="sounds per batch")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--lr-decay", type=float, default=1.0, help="per-epoch learning-rate factor")
    parser.add_argument("--seed", type=int, default=0, help="data seed (training batches and validation set)")
    parser.add_argument("--val-count", type=bounded_int(1, 1000000), default=512, help="validation sounds")
    parser.add_argument("--patience", type=int, default=5, help="early-stopping epochs (0 = off)")
    parser.add_argument("--width-scale", type=float, default=1.0,
                        help="multiply every convolution width (1 = paper sizes)")
    parser.add_argument("--fc-units", type=int, default=512,
                        help="hidden fully connected width before the head (default 512)")
    parser.add_argument("--summary-units", type=int, default=0,
                        help="*tcn spectral-summary width (0 = trunk channels)")
    parser.add_argument("--sweep-harmonics", type=int, default=1,
                        help="sweeptcn: harmonics of each oscillator's FM sweep read (default 1)")
    parser.add_argument("--sweep-cell-units", type=int, default=0, metavar="N",
                        help="sweeptcn: add a network of N units per oscillator over all "
                             "oscillators' reads at each (note, depth) pair to the readout's sum "
                             "(default 0: the sum alone; the shipped ensemble's main member uses 16)")
    parser.add_argument("--sweep-read", action="store_true",
                        help="sweeptcn: also read bin features at each oscillator's sweep positions")
    parser.add_argument("--trajectory-read", action="store_true",
                        help="sweeptcn: score FM rates along each oscillator's frame-by-frame path")
    parser.add_argument("--time-limit", type=bounded_float(0.0, 60 * 24 * 14), default=0.0, metavar="MINUTES",
                        dest="max_minutes",
                        help="stop after the epoch that passes this many minutes (0 = none)")
    add_hidden_alias(parser, "--max-minutes", dest="max_minutes", type=bounded_float(0.0, 60 * 24 * 14))
    parser.add_argument("data_pos", nargs="?", default=None, metavar="DATA",
                        help="a `latent dataset synth` folder to train on (the same as --data)")
    parser.add_argument("--data", default=None, metavar="DIR",
                        help="train on a `latent dataset synth` folder (default: on-the-fly renders)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.keras")
    add_strategy_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from instrument.synths.registry import get_synth

    args.data = one_input(args, "data_pos", "data", "--data")
    if args.data:
        check_input_folder(args.data, "dataset folder", DatasetError)
    check_outputs(folders=[(args.out, "output folder")])

    get_synth(args.synth)  # SynthError early for unknown names
    from training.inversion.train import InversionTrainConfig, check_resume, train_inversion
    config = InversionTrainConfig(
        synth=args.synth, arch=args.arch, head=args.head, epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size,
        learning_rate=args.learning_rate, seed=args.seed, val_count=args.val_count,
        patience=args.patience, width_scale=args.width_scale, fc_units=args.fc_units,
        summary_units=args.summary_units, max_minutes=args.max_minutes,
        lr_decay=args.lr_decay,
        data=args.data or "", sweep_harmonics=args.sweep_harmonics,
        sweep_cell_units=args.sweep_cell_units, sweep_read=args.sweep_read,
        trajectory_read=args.trajectory_read)
    if args.resume and args.strategy == "default":
        check_resume(config, args.out)  # a checkpoint of other options: one line, before TensorFlow
    if args.strategy != "default":
        metrics = train_inversion_distributed(config, args.out, args.strategy, resume=args.resume,
                                              checkpoint_every=args.checkpoint_every)
    else:
        metrics = train_inversion(config, args.out, resume=args.resume)
    print(f"mean MPR (validation) {metrics['validation']['mean_mpr']:.2f}")
    return 0
