"""``sam2-longvideo``: the tracking engine without a GUI, for one video or a batch script."""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import typing
from pathlib import Path

from . import __version__
from .errors import UserInputError
from .settings import TrackSettings, flag_of, setting_types

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sam2-longvideo",
        description="Segment and track several animals through long videos with SAM2, in chunks.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    track = commands.add_parser(
        "track",
        help="track the prompted animals through a video",
        description="Track the prompted animals through VIDEO into --out: labels.tif, tracks.csv, "
        "run.json. Running the same command again resumes after the last finished chunk.",
    )
    track.add_argument("video", help="video file (mp4, avi, mov, mkv), folder of frames, or TIFF stack")
    track.add_argument(
        "--prompts", required=True, help="CSV with the header frame,y,x,animal,positive (pixels of the video)"
    )
    _add_run_options(track)

    sample = commands.add_parser(
        "sample",
        help="track the bundled two-mice clip with its ready prompts",
        description="Track the short two-mice clip shipped with this package (see its README for the source).",
    )
    _add_run_options(sample)
    return parser


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (created if needed)")
    parser.add_argument("--overwrite", action="store_true", help="start over, discarding a run in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_setting_options(parser)


def add_setting_options(parser: argparse.ArgumentParser, cls=TrackSettings) -> None:
    """One option per field of ``cls``, from the field's metadata, in a group per backend.

    Options are left out of the parsed arguments unless given (``argparse.SUPPRESS``), so the
    settings' own defaults apply and a caller can tell "not given" from "given the default".
    """
    groups = {
        applies: parser.add_argument_group(title, description)
        for applies, (title, description) in SETTING_GROUPS.items()
    }
    types = setting_types(cls)
    for field in dataclasses.fields(cls):
        meta = field.metadata
        group = groups[meta.get("applies", "all")]
        kind = types[field.name]
        options = dict(dest=field.name, default=argparse.SUPPRESS, help=_help(field))
        if kind is bool:
            options["action"] = "store_true" if not field.default else argparse.BooleanOptionalAction
        else:
            value_type, many = _value_type(kind)
            metavar = meta.get("metavar") or (None if meta.get("choices") else METAVARS.get(value_type))
            options.update(type=value_type, metavar=metavar, choices=meta.get("choices"))
            if many:
                options["nargs"] = "+"
        group.add_argument(flag_of(field), **options)


SETTING_GROUPS = {
    "all": ("settings for either backend", None),
    "sam2": ("SAM2 backend", "used only with --backend sam2"),
    "contrast": ("contrast backend", "used only with --backend contrast"),
    "detector": (
        "detector (re-anchors drifting animals, finds lost ones)",
        "either backend; used only with --detector or --train-detector",
    ),
}


METAVARS = {int: "N", float: "X"}


def _value_type(kind) -> tuple[type, bool]:
    """``int | None`` -> (int, False); ``list[int] | None`` -> (int, True)."""
    args = [arg for arg in typing.get_args(kind) if arg is not type(None)]
    if args and typing.get_origin(kind) is not list:  # an optional value
        kind = args[0]
    if typing.get_origin(kind) is list:
        return typing.get_args(kind)[0], True
    return kind, False


def _help(field: dataclasses.Field) -> str:
    meta = field.metadata
    text = meta.get("help", "").replace("%", "%%")  # argparse formats help with %
    if field.default is None:
        return f"{text} (default: {meta['none_means']})" if meta.get("none_means") else text
    if field.default is False:
        return text
    return f"{text} (default: {field.default})"


def settings_from_args(args, cls=TrackSettings) -> TrackSettings:
    """The settings the options give, the rest at their defaults, checked."""
    given = vars(args)
    return cls(**{f.name: given[f.name] for f in dataclasses.fields(cls) if f.name in given}).validate()


class StopAfterChunk:
    """First Ctrl-C: finish the current chunk, then stop. Second Ctrl-C: stop at once."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            signal.signal(signal.SIGINT, self._previous)
            raise KeyboardInterrupt
        self.requested = True
        print("\nStopping after the current chunk (Ctrl-C again to stop now).", file=sys.stderr)

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._previous)
        return False


def run_track(video, prompts_path, settings: TrackSettings, args) -> int:
    from .io.prompts import Prompts
    from .progress import ProgressBar, RunProgress
    from .run import run_tracking

    prompts = Prompts.from_csv(prompts_path)
    progress = RunProgress(settings.chunk_size)
    bar = ProgressBar(progress, enabled=not args.quiet)
    with StopAfterChunk() as stop, bar:
        events = run_tracking(
            video, prompts, settings, args.out, overwrite=args.overwrite, download_progress=bar.download
        )
        for event in events:
            bar.show(progress.update(event))
            if stop.requested and progress.at_chunk_end and progress.frames_saved < progress.total_frames:
                events.close()
                bar.close()
                print(
                    f"Stopped after chunk {progress.chunks_done} of {progress.num_chunks}: "
                    f"{progress.frames_saved} of {progress.total_frames} frames are saved in {args.out}. "
                    "Run the same command again to resume.",
                    file=sys.stderr,
                )
                return EXIT_INTERRUPTED
            if progress.results is not None:
                bar.close()
                written = progress.results
                print(f"Wrote {written.labels}, {written.tracks} and {written.metadata}")
    return 0


def sample_backend(settings: TrackSettings) -> str:
    """SAM2 when its weights can be had; else the contrast backend, which the sample's arena suits."""
    if settings.random_weights:
        return "sam2"
    from .engine.backends.sam2.checkpoints import model_spec, resolve_checkpoint

    try:
        resolve_checkpoint(model_spec(settings.model, settings.sam_version), settings.checkpoint)
        return "sam2"
    except UserInputError as error:
        print(
            f"SAM2 weights are not available ({error})\nTracking the sample with the weight-free contrast "
            "backend instead (dark mice on a light floor suit it); give --checkpoint PATH to use SAM2.",
            file=sys.stderr,
        )
        return "contrast"


def main(argv=None) -> int:
    # sam2 draws a tqdm bar per chunk; ours replaces it (ours is created with disable=False explicitly).
    os.environ.setdefault("TQDM_DISABLE", "1")
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
        if args.command == "sample":
            from .sample import sample_paths

            video, prompts = sample_paths()
            if "backend" not in vars(args):  # not given: whichever can run here
                settings = dataclasses.replace(settings, backend=sample_backend(settings))
            return run_track(video, prompts, settings, args)
        return run_track(args.video, args.prompts, settings, args)
    except UserInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(
            f"\nStopped. Finished chunks are kept in {Path(args.out)}; run the same command to resume.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
