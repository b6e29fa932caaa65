"""Many videos, one task each on Dask: the same `run.run_tracking` the single command runs, per video.

A batch reads its videos from a manifest (`io.manifest`), sends one task per video to a
``dask.distributed`` cluster (a `LocalCluster` here by default, an existing scheduler, or SLURM jobs
through dask-jobqueue), and keeps ``batch.csv`` in the output folder up to date as the tasks finish.
Each video goes into ``OUT/<name>/`` exactly as ``sam2-longvideo track`` writes it, so a rerun skips
the finished videos and resumes the others chunk by chunk, and the run lock keeps two workers (or two
batches) off one folder. A video that fails is recorded; the others go on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import multiprocessing
import os
import queue
import re
import sys
import time
import uuid
from pathlib import Path

from .errors import UserInputError
from .io.excerpt import FirstFrames
from .io.frames import open_frames
from .io.manifest import ManifestRow, read_manifest, read_results, write_results
from .io.prompts import Prompts
from .io.run_folder import RunFolder
from .settings import TrackSettings

RESULTS_FILE = "batch.csv"
NO_PROMPTS = "no prompts; detector-prompted batch runs are not available yet"
LOCAL_DASHBOARD = "127.0.0.1:8787"  # loopback: the dashboard shows paths and logs, it is not for the network


@dataclasses.dataclass(frozen=True)
class VideoJob:
    """One task: a video, its prompts and settings, its output folder."""

    index: int
    name: str
    video: str
    prompts: str | None
    settings: TrackSettings
    out: str


def track_video(job: VideoJob, topic: str | None = None) -> dict:
    """Track one video into ``job.out``: the task a batch sends to a worker; returns its ``batch.csv`` row.

    A finished run of the same video, prompts and settings is left as it is (``skipped``). Errors are
    caught and returned as a failed row, so that one video's failure is the batch's record, not an
    exception on the client; ``topic`` names the Dask event topic that progress is reported on.
    """
    from .engine.events import ChunkDone, RunStarted
    from .run import run_tracking

    started = time.perf_counter()
    row = {"name": job.name, "video": job.video, "status": "failed", "worker": _worker_address()}
    report = _reporter(topic, job.index)
    try:
        if job.prompts is None:
            raise UserInputError(NO_PROMPTS)
        report(state="running")
        _check_worker_can_run(job.settings)
        prompts = Prompts.from_csv(job.prompts)
        if _finished_earlier(job, prompts):
            row.update(_summary(job.out), status="finished", skipped=True)
            return row
        _pin_gpu(job.settings)
        for event in run_tracking(job.video, prompts, job.settings, job.out):
            if isinstance(event, (RunStarted, ChunkDone)):
                report(state="running", frames_done=event.frames_done,
                       total=getattr(event, "total_frames", None))
        row.update(_summary(job.out), status="finished")
    except Exception as error:  # noqa: BLE001 - whatever it was, it is this video's, and the batch goes on
        row["error"] = str(error) if isinstance(error, UserInputError) else f"{type(error).__name__}: {error}"
    row["seconds"] = round(time.perf_counter() - started, 2)
    return row


def _worker_address() -> str | None:
    """The address of the Dask worker running this task (None when not on one)."""
    try:
        from distributed import get_worker

        return get_worker().address
    except ValueError:
        return None


def _reporter(topic, index):
    """A function that sends this task's progress to the batch's client as a Dask event (or nowhere)."""
    worker = None
    if topic is not None:
        with contextlib.suppress(ValueError):  # not on a worker (called directly)
            from distributed import get_worker

            worker = get_worker()

    def report(**values):
        if worker is not None:
            worker.log_event(topic, dict(values, index=index))

    return report


def _check_worker_can_run(settings: TrackSettings) -> None:
    if settings.backend == "contrast" and multiprocessing.current_process().daemon:
        raise UserInputError(
            "This Dask worker is a daemonic process, which cannot start the contrast backend's helper process. "
            "Start the workers with DASK_DISTRIBUTED__WORKER__DAEMON=False in their environment "
            "(or `dask worker --no-nanny`)."
        )


def _pin_gpu(settings: TrackSettings) -> None:
    """Spread the workers of a machine over its GPUs: worker n (by its name's number) takes GPU n."""
    if settings.backend != "sam2" or settings.device not in ("auto", "cuda"):
        return
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count < 2:
        return
    with contextlib.suppress(ValueError):
        from distributed import get_worker

        number = re.search(r"(\d+)$", str(get_worker().name))
        if number:
            torch.cuda.set_device(int(number.group(1)) % count)


def _finished_earlier(job: VideoJob, prompts: Prompts) -> bool:
    """Whether ``job.out`` holds a finished run of this same video, prompts and settings.

    A finished run with other prompts or settings raises `UserInputError` (as ``track`` would), naming
    what differs; a run that is not finished is for `run_tracking` to resume.
    """
    earlier = RunFolder(job.out).read_metadata() if Path(job.out).is_dir() else None
    if not earlier or earlier.get("status") != "finished":
        return False
    with open_frames(job.video) as frames:
        if job.settings.max_frames is not None and job.settings.max_frames < len(frames):
            frames = FirstFrames(frames, job.settings.max_frames)
        video = json.loads(json.dumps(frames.fingerprint(), default=str))
    lock, _ = RunFolder.claim(job.out)  # a live run there is refused here
    try:
        RunFolder.prepare(job.out, video=video, prompts=prompts.fingerprint(), settings=job.settings)
    finally:
        lock.release()
    return earlier.get("video") == video  # a longer --max-frames is resumed, not skipped


def _summary(out) -> dict:
    """Frames and the counts of lost, merged and jumped (frame, animal) rows, from ``tracks.csv``."""
    import pandas

    tracks = pandas.read_csv(Path(out) / "tracks.csv")
    frames = int(tracks["frame"].max()) + 1 if len(tracks) else 0
    return {"frames": frames, **{flag: int(tracks[flag].sum()) for flag in ("lost", "merged", "jumped")}}


def plan_jobs(rows: list[ManifestRow], settings: TrackSettings, out: Path) -> tuple[list[VideoJob], dict]:
    """One job per manifest row, its settings checked; and the rows refused before they run, by index.

    A row whose output folder an earlier row already names is refused (two tasks would race for it).
    """
    jobs, refused, seen = [], {}, {}
    for index, row in enumerate(rows):
        try:
            row_settings = dataclasses.replace(settings, **row.settings).validate()
        except UserInputError as error:
            raise UserInputError(f"Manifest line {row.line} ({row.name}): {error}") from None
        folder = (out / row.name).absolute()
        job = VideoJob(index, row.name, row.video, row.prompts, row_settings, str(folder))
        if folder in seen:
            refused[index] = (
                f"the output folder {folder} is already that of manifest line {seen[folder]}; "
                "give this row another name"
            )
        seen.setdefault(folder, row.line)
        jobs.append(job)
    return jobs, refused


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
            client = Client(cluster if cluster is not None else scheduler, timeout="30s")
        except OSError as error:
            raise UserInputError(
                f"Cannot reach the Dask scheduler at {scheduler}: {error}. Start it (`dask scheduler`) or "
                "check the address."
            ) from error
        with client:
            yield client
        return
    # Workers that are not daemons may start processes of their own (the contrast backend's helper).
    with dask.config.set({"distributed.worker.daemon": False}), LocalCluster(
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
        # the workers start processes of their own (the contrast backend's helper)
        job_script_prologue=["export DASK_DISTRIBUTED__WORKER__DAEMON=False"],
        scheduler_options=scheduler_options or {},
    )
    if jobs:
        cluster.scale(jobs=jobs)
    return cluster


def run_batch(manifest, out, settings: TrackSettings | None = None, *, workers: int | None = None,
              scheduler: str | None = None, cluster=None, progress: bool = True, file=None) -> list[dict]:
    """Track every video of ``manifest`` into ``out/<name>/`` on Dask; return the rows of ``batch.csv``.

    Parameters
    ----------
    manifest : str or Path
        A manifest CSV (``video,prompts[,name][,setting...]``) or a folder of videos with ``NAME.csv``
        prompts beside each.
    out : str or Path
        The batch's folder: a run folder per video and ``batch.csv``.
    settings : TrackSettings, optional
        Settings for every video, which the manifest's setting columns override per video.
    workers : int, optional
        Workers of the local cluster (default: `default_workers`).
    scheduler : str, optional
        Address of a running Dask scheduler to use instead of a local cluster.
    cluster : distributed cluster, optional
        A cluster object (e.g. `slurm_cluster`) to use instead.
    progress : bool
        Draw a progress bar over the videos on ``file`` (stderr).

    Returns
    -------
    list of dict
        One row per video: name, video, status (``finished``, ``failed``, or ``stopped`` when the batch
        was interrupted), frames, seconds, lost, merged, jumped, error; and worker, the address of the
        Dask worker that ran it (not in ``batch.csv``).
    """
    settings = (settings or TrackSettings()).validate()
    out = RunFolder.check_path(out)
    jobs, refused = plan_jobs(read_manifest(manifest), settings, out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / RESULTS_FILE
    earlier = read_results(results_path)
    rows = [{"name": job.name, "video": job.video, "status": "pending"} for job in jobs]
    for index, error in refused.items():
        rows[index].update(status="failed", error=error)
    write_results(results_path, rows)
    topic = f"sam2-longvideo-batch-{uuid.uuid4().hex}"
    events: queue.Queue = queue.Queue()
    bar = BatchProgress(len(jobs), enabled=progress, file=file or sys.stderr)
    bar.advance(len(refused))
    with open_client(settings, workers=workers, scheduler=scheduler, cluster=cluster) as client, bar:
        if _has_dashboard(client):
            print(f"Dask dashboard: {client.dashboard_link}", file=file or sys.stderr)
        client.subscribe_topic(topic, lambda event: events.put(event[1]))
        futures = {client.submit(track_video, job, topic, pure=False): job.index
                   for job in jobs if job.index not in refused}
        try:
            _collect(futures, rows, events, bar, lambda: write_results(results_path, rows))
        finally:
            for index in futures.values():  # stopped before its end (Ctrl-C): a rerun resumes it
                if rows[index]["status"] in ("pending", "running"):
                    rows[index]["status"] = "stopped"
            for future in futures:
                future.cancel()
            client.unsubscribe_topic(topic)
            write_results(results_path, rows)
    for row in rows:
        if row.pop("skipped", False) and earlier.get(row["name"], {}).get("status") == "finished":
            row["seconds"] = earlier[row["name"]].get("seconds", row.get("seconds"))
    write_results(results_path, rows)
    return rows


def _has_dashboard(client) -> bool:
    """Whether the scheduler serves the dashboard (its HTTP server answers without it where bokeh is missing)."""
    if "dashboard" not in client.scheduler_info().get("services", {}):
        return False
    return client.run_on_scheduler(_bokeh_installed)


def _bokeh_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


def _collect(futures: dict, rows: list[dict], events: queue.Queue, bar, save) -> None:
    """Wait for the tasks, keeping ``rows`` (and ``batch.csv``, through ``save``) and the bar up to date."""
    from distributed import as_completed

    completed = as_completed(list(futures))
    remaining = len(futures)
    while remaining:
        changed = False
        while not events.empty():
            event = events.get()
            row = rows[event["index"]]
            if row["status"] == "pending":
                row["status"], changed = "running", True
            bar.frames(event["index"], event.get("frames_done"), event.get("total"))
        for future in completed.next_batch(block=False) if completed.has_ready() else ():
            index, remaining, changed = futures[future], remaining - 1, True
            try:
                result = future.result()
            except Exception as error:  # noqa: BLE001 - a worker died with it, or it could not be run
                result = {"status": "failed", "error": f"{type(error).__name__}: {error}"}
            rows[index].update(result)
            bar.advance(1, failed=result["status"] == "failed")
        if changed:
            save()
        if remaining:
            time.sleep(0.1)


class BatchProgress:
    """A tqdm bar on stderr over the batch's videos, with the frames tracked so far as its postfix."""

    def __init__(self, videos: int, enabled: bool = True, file=None):
        from tqdm import tqdm

        self._bar = tqdm(total=videos, unit="video", desc="videos", file=file, disable=not enabled,
                         dynamic_ncols=True)
        self._frames: dict[int, tuple[int, int]] = {}  # index -> (frames done, total)
        self.failed = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._bar.close()
        return False

    def frames(self, index: int, done: int | None, total: int | None) -> None:
        if done is None:
            return
        self._frames[index] = (done, total if total is not None else self._frames.get(index, (0, 0))[1])
        done, total = (sum(values) for values in zip(*self._frames.values()))
        self._bar.set_postfix_str(f"{done}/{total} frames of the started videos" + self._failures())

    def advance(self, videos: int, failed: bool = False) -> None:
        self.failed += videos if failed else 0
        self._bar.update(videos)

    def _failures(self) -> str:
        return f", {self.failed} failed" if self.failed else ""
