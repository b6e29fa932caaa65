"""``sam2-longvideo``: the tracking engine without a GUI, for one video or a batch script."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from . import __version__
from .errors import UserInputError
from .settings import BACKENDS, DEVICES, MODEL_SIZES, SAM_VERSIONS, TrackSettings

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
    defaults = TrackSettings()
    parser.add_argument("--out", required=True, help="output folder (created if needed)")
    parser.add_argument(
        "--backend", choices=BACKENDS, default=None,
        help="sam2 (default), or contrast: no weights, for dark animals on a light floor or light on dark",
    )
    parser.add_argument("--model", default=defaults.model, choices=MODEL_SIZES, help="SAM2 model size")
    parser.add_argument("--sam-version", default=defaults.sam_version, choices=SAM_VERSIONS)
    parser.add_argument(
        "--checkpoint", help="SAM2 checkpoint file; without it the official one is downloaded once"
    )
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="FOR TESTS AND BENCHMARKS ONLY: build SAM2 from a fixed seed with no checkpoint; the masks "
        "are meaningless but reproducible",
    )
    parser.add_argument("--image-size", type=int, default=defaults.image_size, help="1024 (trained) or 512 (faster)")
    parser.add_argument("--device", default=defaults.device, choices=DEVICES)
    parser.add_argument("--chunk-size", type=int, default=defaults.chunk_size, help="frames per chunk")
    parser.add_argument(
        "--prune-window", type=int, default=defaults.prune_window,
        help="frames of SAM2 outputs kept behind the current one inside a chunk (at least 16)",
    )
    parser.add_argument("--max-frames", type=int, help="track only the first N frames")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of --random-weights")
    contrast = parser.add_argument_group("contrast backend")
    contrast.add_argument("--arena", help="mask image (non-zero inside) or polygon 'y,x;y,x;...'")
    contrast.add_argument("--threshold", type=float, help="grey levels an animal differs from the floor by")
    contrast.add_argument("--min-area", type=int, help="smaller blobs are not animals (pixels)")
    _add_detector_options(parser.add_argument_group("detector (re-anchors drifting animals, finds lost ones)"))
    parser.add_argument("--overwrite", action="store_true", help="start over, discarding a run in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_detector_options(group) -> None:
    defaults = TrackSettings()
    group.add_argument("--detector", help="an ultralytics YOLO model file (.pt) that finds the animals")
    group.add_argument("--detector-conf", type=float, default=defaults.detector_conf, help="minimum confidence")
    group.add_argument("--detector-classes", type=int, nargs="+", help="keep only these class ids")
    group.add_argument("--detector-imgsz", type=int, default=defaults.detector_imgsz, help="detector image size")
    group.add_argument(
        "--train-detector", action="store_true",
        help="train a detector on the first --train-frames frames' masks; saved as detector.pt in --out",
    )
    group.add_argument("--train-frames", type=int, default=defaults.train_frames)
    group.add_argument("--detector-epochs", type=int, default=defaults.detector_epochs)
    group.add_argument("--detector-patience", type=int, default=defaults.detector_patience)
    group.add_argument(
        "--reanchor-iou", type=float, default=defaults.reanchor_iou,
        help="re-prompt an animal with its detection when its mask overlaps the box less than this",
    )


def settings_from_args(args) -> TrackSettings:
    return TrackSettings(
        backend=args.backend or "sam2",
        arena=args.arena,
        threshold=args.threshold,
        min_area=args.min_area,
        model=args.model,
        sam_version=args.sam_version,
        checkpoint=args.checkpoint,
        random_weights=args.random_weights,
        image_size=args.image_size,
        device=args.device,
        chunk_size=args.chunk_size,
        prune_window=args.prune_window,
        max_frames=args.max_frames,
        seed=args.seed,
        detector=args.detector,
        detector_conf=args.detector_conf,
        detector_classes=args.detector_classes,
        detector_imgsz=args.detector_imgsz,
        train_detector=args.train_detector,
        train_frames=args.train_frames,
        detector_epochs=args.detector_epochs,
        detector_patience=args.detector_patience,
        reanchor_iou=args.reanchor_iou,
    ).validate()


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


def run_track(video, prompts_path, args) -> int:
    from .io.prompts import Prompts
    from .progress import ProgressBar, RunProgress
    from .run import run_tracking

    settings = settings_from_args(args)
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


def sample_backend(args) -> str:
    """SAM2 when its weights can be had; else the contrast backend, which the sample's arena suits."""
    if args.random_weights:
        return "sam2"
    from .engine.backends.sam2.checkpoints import model_spec, resolve_checkpoint

    try:
        resolve_checkpoint(model_spec(args.model, args.sam_version), args.checkpoint)
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
        if args.command == "sample":
            from .sample import sample_paths

            video, prompts = sample_paths()
            if args.backend is None:
                args.backend = sample_backend(args)
            return run_track(video, prompts, args)
        return run_track(args.video, args.prompts, args)
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
