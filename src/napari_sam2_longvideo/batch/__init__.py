"""Many videos, one task each on Dask: the same `run.run_tracking` the single command runs, per video.

A batch reads its videos from a manifest (`io.manifest`), sends one task per video (`task`) to a
``dask.distributed`` cluster (a `LocalCluster` here by default, an existing scheduler, or SLURM jobs
through dask-jobqueue: `clusters`), and keeps ``batch.csv`` in the output folder up to date as the tasks finish.
Each video goes into ``OUT/<name>/`` exactly as ``sam2-longvideo track`` writes it, so a rerun skips
the finished videos and resumes the others chunk by chunk, and the run lock keeps two workers (or two
batches) off one folder. A video that fails is recorded; the others go on.
"""

from __future__ import annotations

import dataclasses
import queue
import sys
import time
import uuid
from pathlib import Path

from ..errors import UserInputError
from ..io.manifest import ManifestRow, read_manifest, read_results, write_results
from ..io.run_folder import RunFolder
from ..settings import TrackSettings
from .clusters import default_workers, has_dashboard, open_client, slurm_cluster
from .task import NO_PROMPTS, VideoJob, track_video

RESULTS_FILE = "batch.csv"

__all__ = ["NO_PROMPTS", "RESULTS_FILE", "VideoJob", "default_workers", "plan_jobs", "run_batch", "slurm_cluster",
           "track_video"]


def plan_jobs(rows: list[ManifestRow], settings: TrackSettings, out: Path,
              parallel_chunks: bool = False) -> tuple[list[VideoJob], dict]:
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
        job = VideoJob(index, row.name, row.video, row.prompts, row_settings, str(folder), parallel_chunks)
        if folder in seen:
            refused[index] = (
                f"the output folder {folder} is already that of manifest line {seen[folder]}; "
                "give this row another name"
            )
        seen.setdefault(folder, row.line)
        jobs.append(job)
    return jobs, refused


def run_batch(manifest, out, settings: TrackSettings | None = None, *, workers: int | None = None,
              scheduler: str | None = None, cluster=None, progress: bool = True, file=None,
              parallel_chunks: bool = False) -> list[dict]:
    """Track every video of ``manifest`` into ``out/<name>/`` on Dask; return the rows of ``batch.csv``.

    Parameters
    ----------
    manifest : str or Path
        A manifest CSV (``video,prompts[,name][,setting...]``) or a folder of videos with ``NAME.csv``
        prompts beside each.
    out : str or Path
        The batch's folder: a run folder per video and ``batch.csv``.
    settings : TrackSettings, optional
        Settings for every video, which the manifest's setting columns override per video; they are
        checked together (``--link`` may take each video's boxes from its ``detections`` column).
    workers : int, optional
        Workers of the local cluster (default: `default_workers`).
    scheduler : str, optional
        Address of a running Dask scheduler to use instead of a local cluster.
    cluster : distributed cluster, optional
        A cluster object (e.g. `slurm_cluster`) to use instead.
    progress : bool
        Draw a progress bar over the videos on ``file`` (stderr).
    parallel_chunks : bool
        Run the chunks of each video as tasks of their own too (``--parallel-chunks``: detector-prompted
        videos only; docs/batch.md).

    Returns
    -------
    list of dict
        One row per video: name, video, status (``finished``, ``failed``, or ``stopped`` when the batch
        was interrupted), frames, seconds, lost, merged, jumped, error; and worker, the address of the
        Dask worker that ran it (not in ``batch.csv``).
    """
    settings = settings or TrackSettings()  # checked with each row's settings: a row may complete them
    out = RunFolder.check_path(out)
    jobs, refused = plan_jobs(read_manifest(manifest), settings, out, parallel_chunks)
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
        if has_dashboard(client):
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
