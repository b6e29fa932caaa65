"""``batch``: many videos, one Dask task each, into a folder per video and ``batch.csv``."""

from __future__ import annotations

import shutil
import sys

from ..errors import UserInputError
from .options import add_setting_options, settings_from_args

EXIT_FAILED = 1


def add_commands(commands) -> None:
    batch = commands.add_parser(
        "batch",
        help="track many videos on Dask (this machine, a running scheduler, or SLURM)",
        description="Track every video of MANIFEST (a CSV with the columns video,prompts and optionally name "
        "and any setting, e.g. chunk_size; or a folder of videos with NAME.csv prompts beside each) into "
        "--out/NAME/, one Dask task per video, and keep --out/batch.csv up to date. Running it again skips "
        "the finished videos and resumes the others. Exit code 1 when any video failed.",
    )
    batch.add_argument("manifest", help="manifest CSV, or a folder of videos with NAME.csv prompts beside each")
    batch.add_argument("--out", required=True, help="output folder: one run folder per video, and batch.csv")
    batch.add_argument("--quiet", action="store_true", help="no progress bar")
    batch.add_argument(
        "--parallel-chunks", action="store_true",
        help="also run the chunks of each video as separate tasks, each prompted by the detector (--detector "
        "or --detections) on its first frame, joined where neighbouring chunks meet",
    )
    where = batch.add_argument_group("where the videos run (default: a local cluster on this machine)")
    choice = where.add_mutually_exclusive_group()
    choice.add_argument(
        "--workers", type=int, metavar="N",
        help="workers of the local cluster, one video each at a time (default: one per GPU with SAM2 on "
        "GPUs; on CPUs one per two cores with the contrast backend, one with SAM2)",
    )
    choice.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler, e.g. tcp://host:8786")
    choice.add_argument("--slurm", action="store_true", help="submit SLURM jobs of Dask workers (dask-jobqueue)")
    slurm = batch.add_argument_group("SLURM (with --slurm)")
    slurm.add_argument("--slurm-queue", metavar="PARTITION", help="the partition to submit to")
    slurm.add_argument("--slurm-gpus", type=int, default=1, metavar="N", help="GPUs per job (default: 1)")
    slurm.add_argument("--slurm-cpus", type=int, default=4, metavar="N", help="CPU cores per job (default: 4)")
    slurm.add_argument("--slurm-memory", default="16GB", metavar="SIZE", help="memory per job (default: 16GB)")
    slurm.add_argument("--slurm-walltime", default="04:00:00", metavar="HH:MM:SS",
                       help="time limit per job (default: 04:00:00)")
    slurm.add_argument("--slurm-jobs", type=int, default=1, metavar="N", help="jobs to submit (default: 1)")
    add_setting_options(batch)
    batch.set_defaults(run=batch_command)


def batch_command(args) -> int:
    from ..batch import run_batch, slurm_cluster

    settings = settings_from_args(args, check=False)  # e.g. --link with each row's own detections
    if args.workers is not None and args.workers < 1:
        raise UserInputError(f"--workers {args.workers}: give at least 1.")
    cluster = None
    if args.slurm:
        if shutil.which("sbatch") is None:
            raise UserInputError(
                "--slurm submits jobs with sbatch, which is not on this machine's PATH; run the batch on the "
                "cluster's login node, or use --scheduler ADDRESS or the local cluster."
            )
        cluster = slurm_cluster(args.slurm_queue, args.slurm_gpus, args.slurm_memory, args.slurm_walltime,
                                args.slurm_jobs, args.slurm_cpus)
    try:
        rows = run_batch(args.manifest, args.out, settings, workers=args.workers, scheduler=args.scheduler,
                         cluster=cluster, progress=not args.quiet, parallel_chunks=args.parallel_chunks)
    finally:
        if cluster is not None:
            cluster.close()
    failed = [row for row in rows if row["status"] != "finished"]
    finished = len(rows) - len(failed)
    print(f"{finished} of {len(rows)} videos finished; results in {args.out}/batch.csv")
    if failed:
        for row in failed:
            print(f"failed: {row['name']} ({row['video']}): {row.get('error', row['status'])}", file=sys.stderr)
        return EXIT_FAILED
    return 0
