"""Splitting a video into chunks of frames, the unit of memory, progress, saving and resuming."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    """Frames ``start`` to ``stop - 1`` of the video; ``index`` counts chunks from 0."""

    index: int
    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start


def chunk_plan(num_frames: int, chunk_size: int) -> list[Chunk]:
    """Consecutive chunks of ``chunk_size`` frames covering ``num_frames``; the last may be shorter."""
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    starts = range(0, num_frames, chunk_size)
    return [Chunk(i, s, min(s + chunk_size, num_frames)) for i, s in enumerate(starts)]
