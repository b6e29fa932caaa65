"""The task a batch sends to a worker: one video through `run.run_tracking`, into its folder."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import multiprocessing
import re
import time
from pathlib import Path

from ..errors import UserInputError
from ..io.excerpt import FirstFrames
from ..io.frames import open_frames
from ..io.prompts import Prompts
from ..io.run_folder import RunFolder
from ..settings import TrackSettings
from .chunks import dask_chunk_runner

NO_PROMPTS = (
    "no prompts: give the video's clicks (its manifest prompts cell, or NAME.csv beside it in a folder), or let "
    "a detector find the animals: --detections (a detections column, or NAME.boxes.csv beside the video) or "
    "--detector, with --animals N (and --link bytetrack or botsort to link the boxes)"
)


@dataclasses.dataclass(frozen=True)
class VideoJob:
    """One task: a video, its prompts and settings, its output folder."""

    index: int
    name: str
    video: str
    prompts: str | None
    settings: TrackSettings
    out: str
    parallel_chunks: bool = False  # the video's chunks as tasks of their own (`chunks`)


def track_video(job: VideoJob, topic: str | None = None) -> dict:
    """Track one video into ``job.out``: the task a batch sends to a worker; returns its ``batch.csv`` row.

    A finished run of the same video, prompts and settings is left as it is (``skipped``). Errors are
    caught and returned as a failed row, so that one video's failure is the batch's record, not an
    exception on the client; ``topic`` names the Dask event topic that progress is reported on.
    """
    from ..engine.events import ChunkDone, RunStarted
    from ..run import run_tracking, starts_without_clicks

    started = time.perf_counter()
    row = {"name": job.name, "video": job.video, "status": "failed", "worker": _worker_address()}
    report = _reporter(topic, job.index)
    try:
        if job.prompts is None and not starts_without_clicks(job.settings):
            raise UserInputError(NO_PROMPTS)
        report(state="running")
        _check_worker_can_run(job.settings)
        prompts = Prompts.from_csv(job.prompts) if job.prompts is not None else Prompts([], source="no prompts")
        if _finished_earlier(job, prompts):
            row.update(_summary(job.out), status="finished", skipped=True)
            return row
        _pin_gpu(job.settings)
        with _chunk_client(job) as client:
            runner = None if client is None else dask_chunk_runner(client)
            for event in run_tracking(job.video, prompts, job.settings, job.out, chunk_runner=runner):
                if isinstance(event, (RunStarted, ChunkDone)):
                    report(state="running", frames_done=event.frames_done,
                           total=getattr(event, "total_frames", None))
        row.update(_summary(job.out), status="finished")
    except Exception as error:  # noqa: BLE001 - whatever it was, it is this video's, and the batch goes on
        row["error"] = str(error) if isinstance(error, UserInputError) else f"{type(error).__name__}: {error}"
    row["seconds"] = round(time.perf_counter() - started, 2)
    return row


def _chunk_client(job: VideoJob):
    """With ``parallel_chunks``, a client of this task's own cluster; this task's thread is given up
    while it waits on its chunks' tasks (`distributed.worker_client`), so its worker can run them."""
    if not job.parallel_chunks:
        return contextlib.nullcontext()
    from distributed import worker_client

    return worker_client()


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
            "Start the workers with DASK_DISTRIBUTED__WORKER__DAEMON=False in their environment, or with the "
            "Dask config of docs/batch.md (or `dask worker --no-nanny`)."
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
    from ..run import prompting_fingerprint

    lock, _ = RunFolder.claim(job.out)  # a live run there is refused here
    try:
        RunFolder.prepare(job.out, video=video, prompts=prompting_fingerprint(prompts, job.settings),
                          settings=job.settings)
    finally:
        lock.release()
    return earlier.get("video") == video  # a longer --max-frames is resumed, not skipped


def _summary(out) -> dict:
    """Frames and the counts of lost, merged and jumped (frame, animal) rows, from ``tracks.csv``."""
    import pandas

    tracks = pandas.read_csv(Path(out) / "tracks.csv")
    frames = int(tracks["frame"].max()) + 1 if len(tracks) else 0
    return {"frames": frames, **{flag: int(tracks[flag].sum()) for flag in ("lost", "merged", "jumped")}}
