"""`latent train autoencoder` and `latent train transfer`: options -> :mod:`training.train`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from instrument.cli_support import (add_hidden_alias, bounded_float, bounded_int, check_input_folder,
                                    check_outputs)
from instrument.config import AudioConfig, SpectralConfig, StftConfig
from instrument.errors import ConfigError, DatasetError
from instrument.models.config import AutoencoderConfig
from instrument.models.names import check_model_name
from training.distributed.latent import add_strategy_options, train_latent_distributed

ARCHS = ("dense", "shallow", "deep", "dilated", "residual", "dilres")


def _hidden_units(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"hidden units must be integers like 256,8, got {text!r}") from exc


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by both kinds: model, loop and analysis settings.

    Model options left unset keep :class:`AutoencoderConfig`'s defaults, shown in ``--help``."""
    base = AutoencoderConfig()
    model = parser.add_argument_group("model")
    model.add_argument("--arch", choices=ARCHS, default="dilres", help="architecture (default dilres)")
    model.add_argument("--channels", type=int, default=None,
                       help=f"hidden conv channels (default {base.channels})")
    model.add_argument("--latent-channels", type=int, default=None,
                       help=f"latent units (faders) (default {base.latent_channels})")
    model.add_argument("--depth", type=int, default=None,
                       help=f"conv layers (deep) / blocks (dilres) (default {base.depth})")
    model.add_argument("--hidden-units", type=_hidden_units, default=None,
                       help="dense hidden sizes, encoder order, e.g. 256,8 (default "
                            + ",".join(map(str, base.hidden_units)) + ")")
    model.add_argument("--kernel-size", type=int, default=None,
                       help=f"conv kernel size (odd) (default {base.kernel_size})")
    model.add_argument("--pool-time", type=int, default=None,
                       help=f"max-pool factor in time (default {base.pool_time})")
    model.add_argument("--pool-freq", type=int, default=None,
                       help=f"max-pool factor in frequency (default {base.pool_freq})")
    model.add_argument("--causal", action="store_true", help="causal in time (for live use)")
    model.add_argument("--freq-bias", action="store_true",
                       help="dilres: trainable per-frequency-bin bias after each block "
                            "(frequency-position awareness)")
    model.add_argument("--freq-context", type=int, default=0, metavar="UNITS",
                       help="dilres: whole-frame context layer with UNITS hidden units after each "
                            "block (0 = none)")
    model.add_argument("--freq-template", action="store_true",
                       help="dilres with --freq-context: the context layers also add a learned "
                            "whole-frame spectral template (harmonics the input lacks)")
    model.add_argument("--noise", type=float, default=None,
                       help=f"input gaussian noise stddev (default {base.noise_stddev:g})")
    model.add_argument("--sparsity", type=float, default=None,
                       help=f"KL sparsity weight beta (0 = off; default {base.sparsity_beta:g})")
    model.add_argument("--sparsity-target", type=float, default=None,
                       help=f"KL sparsity target rho (default {base.sparsity_rho:g})")
    model.add_argument("--l1", type=float, default=None,
                       help=f"L1 kernel regularisation (default {base.l1:g})")
    model.add_argument("--l2", type=float, default=None,
                       help=f"L2 kernel regularisation (default {base.l2:g})")
    model.add_argument("--dropout", type=float, default=None, help=f"dropout rate (default {base.dropout:g})")
    loop = parser.add_argument_group("training")
    loop.add_argument("--epochs", type=bounded_int(1, 100000), default=30, help="most training epochs")
    loop.add_argument("--batch-size", type=bounded_int(1, 65536), default=16, help="examples per batch")
    loop.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate")
    loop.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant",
                      help="cosine: decay the learning rate to 2%% by the last epoch or the time limit")
    loop.add_argument("--frames", type=bounded_int(1, 4096), default=16, help="spectrum frames per window (T)")
    loop.add_argument("--seed", type=int, default=0,
                      help="seed of the validation split, shuffling, augmentation and weights")
    loop.add_argument("--val-fraction", type=float, default=0.15, help="notes held out for validation")
    loop.add_argument("--split", choices=("random", "between"), default="random",
                      help="validation notes: seeded random notes, or seeded random pitches between "
                      "training pitches (never the range ends, never two neighbours)")
    loop.add_argument("--patience", type=int, default=10, help="early-stopping patience (0 = off)")
    loop.add_argument("--gain-db", type=float, default=6.0, help="random gain augmentation range (dB)")
    loop.add_argument("--shift-frames", type=int, default=2, help="random time-shift augmentation")
    loop.add_argument("--pitch-shift", type=float, default=0.0, metavar="SEMITONES",
                      help="random pitch-shift augmentation: stretch the frequency axis of input "
                           "and target by up to +-SEMITONES (0 = off)")
    loop.add_argument("--input-eq-db", type=float, default=0.0, metavar="DB",
                      help="random smooth EQ of the input only, up to about +-DB (transfer: learn the "
                           "target timbre from inputs that differ from the training recordings; 0 = off)")
    loop.add_argument("--pretrain-epochs", type=int, default=0,
                      help="greedy layer-wise pre-training epochs per layer (dense/deep)")
    loop.add_argument("--stride", type=int, default=None,
                      help="frames between training windows (default frames/2)")
    loop.add_argument("--time-limit", type=bounded_float(0.0, 60 * 24 * 14), default=0.0, metavar="MINUTES",
                      help="stop after the epoch that passes this many minutes (0 = none)")
    add_hidden_alias(loop, "--max-minutes", dest="time_limit", type=bounded_float(0.0, 60 * 24 * 14))
    loop.add_argument("--no-tensorboard", action="store_true", help="do not write TensorBoard logs")
    loop.add_argument("--resume", action="store_true",
                      help="continue an interrupted run in the output folder from its last epoch")
    loop.add_argument("--quiet", action="store_true", help="no progress bar")
    spec = parser.add_argument_group("analysis")
    spec.add_argument("--sample-rate", type=int, default=22050, help="analysis sample rate (Hz)")
    spec.add_argument("--n-fft", type=int, default=1024, help="STFT frame length (samples)")
    spec.add_argument("--hop-length", type=int, default=256, help="STFT hop (samples)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="output folder (model.keras, metrics.json, loss.png, checkpoints)")
    parser.add_argument("--name", default=None,
                        help="the model's name, saved in its metadata and shown by render, perform and "
                             "the window (default: the output folder's name)")
    add_strategy_options(parser)


def spectral_from_args(args: argparse.Namespace) -> SpectralConfig:
    return SpectralConfig(audio=AudioConfig(sample_rate=args.sample_rate),
                          stft=StftConfig(n_fft=args.n_fft, hop_length=args.hop_length))


def model_options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    return {"arch": args.arch, "channels": args.channels, "latent_channels": args.latent_channels,
            "depth": args.depth, "hidden_units": args.hidden_units, "kernel_size": args.kernel_size,
            "pool_time": args.pool_time, "pool_freq": args.pool_freq, "causal": bool(args.causal),
            "freq_bias": bool(args.freq_bias), "freq_context": args.freq_context,
            "freq_template": bool(args.freq_template),
            "noise_stddev": args.noise, "sparsity_beta": args.sparsity,
            "sparsity_rho": args.sparsity_target, "l1": args.l1, "l2": args.l2, "dropout": args.dropout}


def train_config_from_args(args: argparse.Namespace, kind: str):
    from training.train import TrainConfig

    return TrainConfig(kind=kind, epochs=args.epochs, batch_size=args.batch_size,
                       learning_rate=args.learning_rate, frames=args.frames, seed=args.seed,
                       val_fraction=args.val_fraction, split=args.split, patience=args.patience, gain_db=args.gain_db,
                       shift_frames=args.shift_frames, pitch_shift=args.pitch_shift,
                       input_eq_db=args.input_eq_db,
                       tensorboard=not args.no_tensorboard,
                       pretrain_epochs=args.pretrain_epochs, stride=args.stride,
                       time_limit_minutes=args.time_limit, lr_schedule=args.lr_schedule,
                       name=args.name or "")


def register(subparsers: argparse._SubParsersAction) -> None:
    auto = subparsers.add_parser(
        "autoencoder", help="train a spectral autoencoder on note folders",
        description="Train an autoencoder on log1p magnitude spectra of every note under the DATA "
                    "folders (positional or --data).")
    auto.add_argument("data_pos", nargs="*", metavar="DATA", help="note folder(s)")
    auto.add_argument("--data", nargs="+", default=None, help="note folder(s) (same as the positional DATA)")
    add_common_options(auto)
    auto.set_defaults(func=run_autoencoder)
    transfer = subparsers.add_parser(
        "transfer", help="train a timbre-transfer model on paired notes",
        description="Train source -> target timbre transfer on notes paired by pitch (and dynamic): "
                    "`latent train transfer SOURCE TARGET -o OUT` or with --source/--target.")
    transfer.add_argument("folders", nargs="*", metavar="SOURCE TARGET",
                          help="folders of source- and target-instrument notes")
    transfer.add_argument("--source", default=None, help="folder of source-instrument notes")
    transfer.add_argument("--target", default=None, help="folder of target-instrument notes")
    transfer.add_argument("--resample", action="store_true",
                          help="accept folders with different native sample rates (resample both)")
    add_common_options(transfer)
    transfer.set_defaults(func=run_transfer)


def _report(result: Any) -> None:
    print(f"wrote {result.model_path} ({result.epochs_run} epochs this run, "
          f"{result.wall_seconds:.0f} s)")
    for key, value in sorted(result.final.items()):
        if key != "wall_seconds":
            print(f"  {key}: {value:.4g}")


def _train(args: argparse.Namespace, data: Any, config: Any, spectral: SpectralConfig) -> Any:
    """Single-device Keras fit, or the tf.distribute loop for --strategy mirrored/multiworker."""
    if args.strategy != "default":
        return train_latent_distributed(data, model_options_from_args(args), config, spectral,
                                        args.output, args.strategy, resume=args.resume,
                                        checkpoint_every=args.checkpoint_every,
                                        verbose=0 if args.quiet else 1)
    from training.train import train

    return train(data, model_options_from_args(args), config, spectral, args.output,
                 resume=args.resume, verbose=0 if args.quiet else 1)


def _check_common(args: argparse.Namespace, inputs: list[str]) -> None:
    """Everything checkable before TensorFlow: folders, output folder, name."""
    for folder in inputs:
        check_input_folder(folder, "note folder", DatasetError)
    check_outputs(folders=[(args.output, "output folder")])
    for folder in inputs:
        if Path(folder).resolve() == Path(args.output).resolve():
            raise ConfigError(f"output folder {args.output} is an input folder; choose another -o")
    if args.name is not None:
        check_model_name(args.name)


def _check_resume(args: argparse.Namespace, config: Any, spectral: SpectralConfig) -> None:
    """--resume: the checkpoint in the output folder fits this run's options (before TensorFlow)."""
    if args.resume and args.strategy == "default":
        from training.train import check_resume, model_config_from_options

        check_resume(args.output, model_config_from_options(model_options_from_args(args), spectral,
                                                            config), config)


def run_autoencoder(args: argparse.Namespace) -> int:
    from training.train import prepare_autoencoder_data

    folders = list(args.data_pos or []) + list(args.data or [])
    if not folders:
        raise DatasetError("give the note folder(s): latent train autoencoder DATA... -o OUT")
    _check_common(args, folders)
    spectral = spectral_from_args(args)
    config = train_config_from_args(args, "autoencoder")
    _check_resume(args, config, spectral)
    data = prepare_autoencoder_data([Path(d) for d in folders], spectral, config)
    _report(_train(args, data, config, spectral))
    return 0


def run_transfer(args: argparse.Namespace) -> int:
    from training.train import prepare_transfer_data

    if args.folders and (args.source or args.target):
        raise DatasetError("give SOURCE TARGET positionally or with --source/--target, not both")
    if args.folders and len(args.folders) != 2:
        raise DatasetError(f"give two folders, SOURCE and TARGET; got {len(args.folders)}")
    source, target = args.folders if args.folders else (args.source, args.target)
    if not source or not target:
        raise DatasetError("give the SOURCE and TARGET note folders (or --source and --target)")
    _check_common(args, [source, target])
    spectral = spectral_from_args(args)
    config = train_config_from_args(args, "transfer")
    _check_resume(args, config, spectral)
    data = prepare_transfer_data(source, target, spectral, config, resample=args.resample)
    _report(_train(args, data, config, spectral))
    return 0
