"""``track`` and ``sample``: one run of the prompted animals through a video into a folder."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import signal
import sys

from ..errors import UserInputError
from ..settings import TrackSettings
from .options import add_setting_options, settings_from_args

EXIT_INTERRUPTED = 130


def add_commands(commands) -> None:
    track = commands.add_parser(
        "track",
        help="track the prompted animals through a video",
        description="Track the prompted animals through VIDEO into --out: labels.zarr, labels.tif, tracks.csv, "
        "run.json. Running the same command again resumes after the last finished chunk.",
    )
    track.add_argument("video", help="video file (mp4, avi, mov, mkv), folder of frames, or TIFF stack")
    track.add_argument(
        "--prompts", help="CSV with the header frame,y,x,animal,positive (pixels of the video); not needed "
        "with --link, or with --animals N and --detector or --detections",
    )
    add_run_options(track)
    parallel = track.add_argument_group(
        "parallel chunks (Dask)", "with a detector, the chunks of the video tracked at the same time on Dask "
        "workers, their identities joined where neighbouring chunks meet (docs/batch.md)")
    parallel.add_argument(
        "--parallel-chunks", action="store_true",
        help="track the chunks as separate Dask tasks, each prompted by the detector (--detector or "
        "--detections) on its first frame; clicks only on the first chunk",
    )
    where = parallel.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="workers of the local Dask cluster (default: as for batch)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler, e.g. tcp://host:8786")
    track.set_defaults(run=track_command)

    sample = commands.add_parser(
        "sample",
        help="track the bundled two-mice clip with its ready prompts",
        description="Track the short two-mice clip shipped with this package (see its README for the source).",
    )
    add_run_options(sample)
    sample.set_defaults(run=sample_command)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (created if needed)")
    parser.add_argument("--overwrite", action="store_true", help="start over, discarding a run in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_setting_options(parser)


def track_command(args) -> int:
    settings = settings_from_args(args)
    if args.prompts is None and settings.link == "none" and not (
        settings.animals and (settings.detector or settings.detections)
    ):
        raise UserInputError(
            "Give --prompts (a CSV of clicks), or let a detector find the animals: --detector yolo.pt or "
            "--detections boxes.csv with --animals N (and --link bytetrack or botsort to link its boxes)."
        )
    return run_track(args.video, args.prompts, settings, args)


def sample_command(args) -> int:
    from ..sample import sample_paths

    settings = settings_from_args(args)
    video, prompts = sample_paths()
    if "backend" not in vars(args):  # not given: whichever can run here
        settings = dataclasses.replace(settings, backend=sample_backend(settings))
    return run_track(video, prompts, settings, args)


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
    from ..io.prompts import Prompts
    from ..progress import ProgressBar, RunProgress
    from ..run import run_tracking

    prompts = Prompts.from_csv(prompts_path) if prompts_path is not None else Prompts([], source="no prompts")
    progress = RunProgress(settings.chunk_size)
    bar = ProgressBar(progress, enabled=not args.quiet)
    with StopAfterChunk() as stop, bar, _chunk_runner(args, settings, prompts) as chunk_runner:
        events = run_tracking(
            video, prompts, settings, args.out, overwrite=args.overwrite, download_progress=bar.download,
            chunk_runner=chunk_runner,
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
                if settings.overlay:
                    print(f"Wrote the overlay video {settings.overlay}")
    return 0


@contextlib.contextmanager
def _chunk_runner(args, settings: TrackSettings, prompts):
    """With ``--parallel-chunks``, the Dask client the chunks run on (a local cluster unless --scheduler);
    a run that cannot have parallel chunks is refused before a cluster is started for it."""
    if not getattr(args, "parallel_chunks", False):
        if getattr(args, "workers", None) is not None or getattr(args, "scheduler", None) is not None:
            raise UserInputError("--workers and --scheduler say where --parallel-chunks runs the chunks; add it.")
        yield None
        return
    if args.workers is not None and args.workers < 1:
        raise UserInputError(f"--workers {args.workers}: give at least 1.")
    from ..batch.chunks import dask_chunk_runner
    from ..batch.clusters import open_client
    from ..run import check_parallel_chunks

    check_parallel_chunks(prompts, settings)

    with open_client(settings, workers=args.workers, scheduler=args.scheduler) as client:
        yield dask_chunk_runner(client)


def sample_backend(settings: TrackSettings) -> str:
    """SAM2 when its weights can be had; else the contrast backend, which the sample's arena suits."""
    if settings.random_weights:
        return "sam2"
    from ..engine.backends.sam2.checkpoints import model_spec, resolve_checkpoint

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
