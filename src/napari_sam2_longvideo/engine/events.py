"""What a run reports as it goes: the events the engine yields and the callers show."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.chunks import Chunk


@dataclass(frozen=True)
class DetectorTraining:
    """Progress of training: ``epoch`` of ``epochs`` finished."""

    epoch: int
    epochs: int


@dataclass(frozen=True)
class RunStarted:
    total_frames: int
    num_chunks: int
    frames_done: int  # already finished by an earlier run


@dataclass(frozen=True)
class FrameTracked:
    frame: int
    frames_done: int
    total_frames: int


@dataclass(frozen=True)
class ChunkDone:
    chunk: Chunk
    num_chunks: int
    frames_done: int
    total_frames: int
    seconds: float
    lost_animals: tuple[int, ...]  # animals with no mask on the chunk's last frame
    undetected: dict[int, list[int]]  # lost animal -> frames where the detector found no box for it


@dataclass(frozen=True)
class RunFinished:
    total_frames: int
    tracked_frames: int  # by this call, not counting resumed chunks
    seconds: float


@dataclass(frozen=True)
class ResultsWritten:
    labels: Path
    tracks: Path
    metadata: Path


Event = RunStarted | FrameTracked | ChunkDone | RunFinished
