"""What a run reports as it goes: the events the engine yields and the callers show.

`run.run_tracking` first yields a `Preparing` for each slow start-up step (opening the video, loading
the model or the detector, learning the contrast backend's floor), each naming what comes next. Then
`engine.tracker.track` yields, in order: one `RunStarted`; per chunk not already on disk, a
`FrameTracked` for each of its frames and a `ChunkDone` once the chunk is saved, with `DetectorTraining`
per epoch between two chunks when a detector is trained; and one `RunFinished`. `run.run_tracking`
adds `ResultsWritten` last. A caller may stop consuming at any event; what is on disk stays, and a
stop right after a `ChunkDone` loses no tracked frame. `progress.RunProgress` turns these into what
the command line and the widget show.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.chunks import Chunk


@dataclass(frozen=True)
class Preparing:
    """A start-up step is about to begin; no frame is tracked until it is done.

    The time it takes is not tracking time: a rate counted over it would make the first estimate of
    the time left far too long.

    Parameters
    ----------
    step : str
        What the run does now, as a person would say it: "opening the video", "loading the SAM2
        model", "learning the floor from the video".
    """

    step: str


@dataclass(frozen=True)
class RunStarted:
    """The run is planned and its store open; tracking of the first chunk not on disk comes next.

    Parameters
    ----------
    total_frames : int
        Frames the run covers (after ``max_frames``).
    num_chunks : int
        Chunks in the plan, including those already done.
    frames_done : int
        Frames in chunks finished by an earlier run, resumed rather than tracked again (0 on a new run).
    """

    total_frames: int
    num_chunks: int
    frames_done: int


@dataclass(frozen=True)
class FrameTracked:
    """One more frame is tracked and handed to the store (on disk only when its chunk is done).

    Parameters
    ----------
    frame : int
        Index of the frame in the video.
    frames_done : int
        Frames tracked so far, including resumed chunks.
    total_frames : int
        Frames the run covers.
    """

    frame: int
    frames_done: int
    total_frames: int


@dataclass(frozen=True)
class ChunkDone:
    """A chunk's labels and records are saved: a stop after this keeps everything tracked so far.

    Parameters
    ----------
    chunk : Chunk
        The chunk that finished.
    num_chunks : int
        Chunks in the plan.
    frames_done : int
        Frames in finished chunks, on disk.
    total_frames : int
        Frames the run covers.
    seconds : float
        Time the chunk took, from its start (and the detector training before it, if any) to its
        last write.
    lost_animals : tuple of int
        Animals with no mask on the chunk's last frame (they start the next chunk lost).
    undetected : dict of int to list of int
        For an animal that was lost, the frames where the detector looked and found no box for it.
    """

    chunk: Chunk
    num_chunks: int
    frames_done: int
    total_frames: int
    seconds: float
    lost_animals: tuple[int, ...]
    undetected: dict[int, list[int]]


@dataclass(frozen=True)
class DetectorTraining:
    """An epoch of training the run's own detector finished (``train_detector``).

    Yielded between the chunk that completes the training frames and the next chunk, once per epoch;
    no frame is tracked meanwhile.

    Parameters
    ----------
    epoch : int
        Epochs finished, from 1.
    epochs : int
        Epochs planned (training may stop earlier when it no longer improves).
    """

    epoch: int
    epochs: int


@dataclass(frozen=True)
class RunFinished:
    """The tracker went through the last chunk; every frame of the run is on disk.

    Parameters
    ----------
    total_frames : int
        Frames the run covers.
    tracked_frames : int
        Frames tracked by this call, not counting resumed chunks.
    seconds : float
        Time since `RunStarted`.
    """

    total_frames: int
    tracked_frames: int
    seconds: float


@dataclass(frozen=True)
class ResultsWritten:
    """The run's files are written (by `run.run_tracking`, after `RunFinished`): the last event.

    Parameters
    ----------
    labels : Path
        ``labels.tif``.
    tracks : Path
        ``tracks.csv``.
    metadata : Path
        ``run.json``.
    """

    labels: Path
    tracks: Path
    metadata: Path


Event = Preparing | RunStarted | FrameTracked | ChunkDone | DetectorTraining | RunFinished | ResultsWritten
