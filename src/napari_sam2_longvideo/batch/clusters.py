"""Where a batch runs: a local Dask cluster, a running scheduler, or SLURM jobs (dask-jobqueue)."""

from __future__ import annotations

import contextlib
import json
import os

from ..errors import UserInputError
from ..settings import TrackSettings

LOCAL_DASHBOARD = "127.0.0.1:8787"  # loopback: the dashboard shows paths and logs, it is not for the network
# What our workers need to run a video as `track` runs it. Not daemons: the contrast backend starts a helper
# process. And none of the variables a nanny sets before starting a worker: MALLOC_TRIM_THRESHOLD_ fixes
# glibc's mmap threshold, so every frame-sized array is mapped and unmapped again (a contrast run on the
# 360p clip took 16.3 s with it, 9.7 s without, docs/benchmarks.md), and OMP_NUM_THREADS=1 would hold
# SAM2 on a CPU to one thread.
WORKER_CONFIG = {"distributed": {
    "worker": {"daemon": False},
    "nanny": {"pre-spawn-environ": {name: None for name in (
        "MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}},
}}


def default_workers(settings: TrackSettings) -> int:
    """One worker per GPU where SAM2 runs on GPUs; on CPUs, one per two cores for the contrast backend
    (a run keeps two processes busy) and one for SAM2 (PyTorch already uses every core)."""
    if settings.backend == "sam2" and settings.device in ("auto", "cuda"):
        import torch

        if torch.cuda.is_available():
            return max(1, torch.cuda.device_count())
    if settings.backend == "contrast":
        return max(1, (os.cpu_count() or 1) // 2)
    return 1


@contextlib.contextmanager
def open_client(settings: TrackSettings, *, workers=None, scheduler=None, cluster=None):
    """A Dask client: on ``cluster``, on the scheduler at ``scheduler``, or on a new `LocalCluster`."""
    import dask
    from distributed import Client, LocalCluster

    if cluster is not None or scheduler is not None:
        try:
            client = Client(cluster if cluster is not None else scheduler, timeout="10s")
        except OSError as error:
            raise UserInputError(
                f"Cannot reach the Dask scheduler at {scheduler}: {error}. Start it (`dask scheduler`) or "
                "check the address."
            ) from error
        with client:
            yield client
        return
    with dask.config.set(_dotted(WORKER_CONFIG)), LocalCluster(
        n_workers=workers or default_workers(settings), threads_per_worker=1, processes=True,
        host="127.0.0.1", dashboard_address=LOCAL_DASHBOARD,
    ) as local, Client(local) as client:
        yield client


def slurm_cluster(queue=None, gpus=0, memory="16GB", walltime="04:00:00", jobs=1, cpus=4,
                  scheduler_options=None):
    """A dask-jobqueue `SLURMCluster` of ``jobs`` jobs, each with ``gpus`` GPUs and one worker per GPU.

    Parameters
    ----------
    queue : str, optional
        The SLURM partition (``#SBATCH -p``).
    gpus : int
        GPUs per job (``--gres=gpu:N``); each gets a worker that runs one video at a time.
    memory, walltime : str
        Per job, as SLURM reads them.
    jobs : int
        Jobs to submit (`SLURMCluster.scale`): 0 submits none (to look at ``job_script()``).
    cpus : int
        CPU cores booked per job.
    scheduler_options : dict, optional
        Passed to the scheduler (``{"host": ...}``).
    """
    from dask_jobqueue import SLURMCluster

    per_job = max(1, int(gpus))
    cluster = SLURMCluster(
        queue=queue, cores=per_job, processes=per_job, job_cpu=max(int(cpus), per_job), memory=memory,
        walltime=walltime, job_extra_directives=[f"--gres=gpu:{gpus}"] if gpus else [],
        job_script_prologue=worker_config_lines(),
        scheduler_options=scheduler_options or {},
    )
    if jobs:
        cluster.scale(jobs=jobs)
    return cluster


def _dotted(config: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``: `dask.config.set` replaces whole dicts it is given."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_dotted(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def worker_config_lines() -> list[str]:
    """Shell lines that give the ``dask worker`` started after them `WORKER_CONFIG` (a Dask config file)."""
    text = json.dumps(WORKER_CONFIG)  # JSON is YAML, which Dask reads config files as
    return ['export DASK_CONFIG="$(mktemp -d)"', f"echo '{text}' > \"$DASK_CONFIG/sam2-longvideo.yaml\""]


def has_dashboard(client) -> bool:
    """Whether the scheduler serves the dashboard (its HTTP server answers without it where bokeh is missing)."""
    if "dashboard" not in client.scheduler_info().get("services", {}):
        return False
    return client.run_on_scheduler(_bokeh_installed)


def _bokeh_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None
