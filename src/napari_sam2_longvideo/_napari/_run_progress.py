"""What the progress bar says: frames done, the chunk, frames per second and time left.

Plain Python (no Qt), fed the engine's events in order, so it is tested without a viewer.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..engine.events import ChunkDone, DetectorTraining, FrameTracked, RunStarted


class RunProgress:
    """Progress of one run, from its events.

    Parameters
    ----------
    chunk_size : int
        Frames per chunk, to say which chunk a frame is in.
    clock : callable
        Seconds, monotonic; tests pass a fake one.
    """

    def __init__(self, chunk_size: int, clock: Callable[[], float] = time.perf_counter):
        self.chunk_size = chunk_size
        self.clock = clock
        self.total_frames = 0
        self.frames_done = 0  # tracked, including chunks finished by earlier runs
        self.frames_saved = 0  # in finished chunks, on disk
        self.num_chunks = 0
        self.chunks_done = 0
        self.training = ""
        self._resumed_at = 0  # frames finished before this run started
        self._started: float | None = None

    def update(self, event) -> None:
        if isinstance(event, RunStarted):
            self.total_frames, self.num_chunks = event.total_frames, event.num_chunks
            self.frames_done = self.frames_saved = self._resumed_at = event.frames_done
            self.chunks_done = -(-event.frames_done // self.chunk_size)
            self._started = self.clock()
        elif isinstance(event, FrameTracked):
            self.frames_done, self.training = event.frames_done, ""
        elif isinstance(event, ChunkDone):
            self.frames_done = self.frames_saved = event.frames_done
            self.chunks_done = event.chunk.index + 1
        elif isinstance(event, DetectorTraining):
            self.training = f"training the detector: epoch {event.epoch} of {event.epochs}"

    @property
    def frames_per_second(self) -> float | None:
        """Frames tracked by this run per second since it started (None before its first frame)."""
        tracked = self.frames_done - self._resumed_at
        if self._started is None or tracked <= 0:
            return None
        return tracked / max(self.clock() - self._started, 1e-9)

    @property
    def seconds_left(self) -> float | None:
        rate = self.frames_per_second
        return None if rate is None else (self.total_frames - self.frames_done) / rate

    def text(self) -> str:
        """One line: ``chunk 2 of 5 · 12.5 frames/s · 3 min 20 s left``."""
        if not self.total_frames:
            return "starting"
        chunk = min(self.chunks_done + 1, self.num_chunks)
        parts = [f"chunk {chunk} of {self.num_chunks}"]
        if self.training:
            parts.append(self.training)
        elif self.frames_per_second is not None:
            parts += [f"{self.frames_per_second:.3g} frames/s", f"{duration(self.seconds_left)} left"]
        return " · ".join(parts)


def duration(seconds: float) -> str:
    """``"45 s"``, ``"3 min 20 s"``, ``"2 h 05 min"``: as precise as a person reads it."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
