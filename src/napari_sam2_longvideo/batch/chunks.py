"""``--parallel-chunks`` on Dask: the chunks of one video as tasks, joined by `engine.parallel`.

`run.run_tracking` is given `dask_chunk_runner`; each chunk is then a task (`track_chunk`) that opens
the video, the run's label store and a backend of its own on its worker, tracks the chunk with
`engine.parallel.track_chunk_alone` (its frames go into the store's blocks of that chunk, which no
other task writes), and returns the chunk's records and its masks on the frame it shares with the
chunk before. The client joins the chunks in order and alone writes the store's index.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ..core.chunks import Chunk
from ..errors import UserInputError
from ..io.prompts import Prompts
from ..settings import TrackSettings


@dataclasses.dataclass(frozen=True)
class ChunkJob:
    """What a chunk's task needs to open the run where it runs.

    ``reopen`` opens the run's frames again (`FrameSource.reopener`, ``--max-frames`` included).
    """

    reopen: Callable
    prompts: Prompts
    settings: TrackSettings
    folder: str
    animals: tuple[int, ...]


def track_chunk(job: ChunkJob, chunk: Chunk):
    """The task of one chunk: track it on its own into the run's store; return its `ChunkResult`."""
    from ..engine.detection.schedule import load_detector
    from ..engine.parallel import track_chunk_alone
    from ..io.store import LabelStore
    from ..run import make_backend

    with job.reopen() as frames:
        store = LabelStore.open(job.folder)
        backend = make_backend(job.settings, frames, job.folder)  # the first chunk's floor is in the folder
        try:
            device = getattr(backend, "device", None)
            if device is None and job.settings.detector:
                from ..engine.devices import pick_device

                device = pick_device(job.settings.device)
            detector = load_detector(job.settings, device or "cpu")
            return track_chunk_alone(frames, job.prompts, backend, store, chunk, detector, job.animals)
        finally:
            backend.close()


def dask_chunk_runner(client) -> Callable:
    """The ``chunk_runner`` of `run.run_tracking` that sends each chunk to ``client``'s workers."""

    def runner(frames, prompts: Prompts, settings: TrackSettings, folder, animals):
        reopen = frames.reopener()
        if reopen is None:
            raise UserInputError(
                "--parallel-chunks reads the video in other processes, which cannot see frames held in this "
                "one's memory; give a video file, a folder of frames or a TIFF stack."
            )
        job = ChunkJob(reopen, prompts, settings, str(folder), tuple(animals))

        def run_chunks(chunks: list[Chunk]):
            from distributed import as_completed

            futures = [client.submit(track_chunk, job, chunk, pure=False) for chunk in chunks]
            try:
                for future in as_completed(futures):
                    yield future.result()  # a chunk that failed raises here: the run stops, as it would alone
            finally:
                for future in futures:
                    future.cancel()

        return run_chunks

    return runner
