"""How far a run is, from the engine's events; and the command line's terminal bar drawn from that.

`RunProgress` is the one place that reads the events (plain Python: no Qt, no terminal), so the
command line's `ProgressBar` and the napari widget show the same numbers and neither dispatches on
event types.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from tqdm import tqdm

from .engine.events import (
    ChunkDone,
    DetectorTraining,
    FrameTracked,
    Preparing,
    ResultsWritten,
    RunFinished,
    RunStarted,
)


class RunProgress:
    """Progress of one run, fed its events in order with `update`.

    Parameters
    ----------
    chunk_size : int
        Frames per chunk, to say how many chunks a resumed run starts with.
    clock : callable
        Seconds, monotonic; tests pass a fake one.

    Attributes
    ----------
    total_frames, num_chunks : int
        The run's size; 0 until it starts.
    frames_done : int
        Frames tracked, including those finished by earlier runs.
    frames_saved, chunks_done : int
        Frames and chunks in finished chunks, on disk: what a stopped run keeps.
    status : str
        What the run does instead of tracking frames, e.g. "loading the SAM2 model" or "training the
        detector: epoch 3 of 30"; empty while it tracks.
    at_chunk_end : bool
        The last event finished a chunk: stopping here loses no tracked frame.
    finished : bool
        The tracker went through the last frame (`RunFinished`).
    tracked_frames : int
        Frames tracked by this run, not counting resumed chunks (known when finished).
    results : ResultsWritten or None
        The files written, once they are.
    """

    def __init__(self, chunk_size: int, clock: Callable[[], float] = time.perf_counter):
        self.chunk_size = chunk_size
        self.clock = clock
        self.total_frames = self.num_chunks = 0
        self.frames_done = self.frames_saved = self.chunks_done = 0
        self.status = ""
        self.at_chunk_end = self.finished = False
        self.tracked_frames = 0
        self.results: ResultsWritten | None = None
        # The rate counts only time between tracked frames, from the first one on: loading the model
        # and training the detector are not tracking, and would make the time left wrong.
        self._rated_frames = 0
        self._rated_seconds = 0.0
        self._last_frame: tuple[float, int] | None = None  # (time, frames_done) of the latest frame

    def update(self, event) -> list[str]:
        """Take in the next event; return the notes worth telling the user once (a lost animal)."""
        self.at_chunk_end = False
        if isinstance(event, Preparing):
            self.status = event.step
            self._last_frame = None  # the next frame's wait is this step, not tracking
        elif isinstance(event, RunStarted):
            self.total_frames, self.num_chunks = event.total_frames, event.num_chunks
            self.frames_done = self.frames_saved = event.frames_done
            self.chunks_done = -(-event.frames_done // self.chunk_size)
        elif isinstance(event, FrameTracked):
            self._count_frame(event.frames_done)
            self.frames_done, self.status = event.frames_done, ""
        elif isinstance(event, ChunkDone):
            self.frames_done = self.frames_saved = event.frames_done
            self.chunks_done, self.at_chunk_end = event.chunk.index + 1, True
            if event.lost_animals:
                lost = ", ".join(map(str, event.lost_animals))
                return [f"chunk {event.chunk.index + 1}: animal(s) {lost} lost by its last frame"]
        elif isinstance(event, DetectorTraining):
            self.status = f"training the detector: epoch {event.epoch} of {event.epochs}"
            self._last_frame = None  # the next frame's wait is training, not tracking
        elif isinstance(event, RunFinished):
            self.finished, self.tracked_frames = True, event.tracked_frames
        elif isinstance(event, ResultsWritten):
            self.results = event
        return []

    def _count_frame(self, frames_done: int) -> None:
        now = self.clock()
        if self._last_frame is not None:
            self._rated_seconds += now - self._last_frame[0]
            self._rated_frames += frames_done - self._last_frame[1]
        self._last_frame = (now, frames_done)

    @property
    def chunk(self) -> int:
        """The chunk being tracked (1-based), or the last one when all are done."""
        return min(self.chunks_done + 1, self.num_chunks)

    @property
    def frames_per_second(self) -> float | None:
        """Frames tracked per second since this run's first tracked frame (None before its second)."""
        if self._rated_frames <= 0 or self._rated_seconds <= 0:
            return None
        return self._rated_frames / self._rated_seconds

    @property
    def seconds_left(self) -> float | None:
        rate = self.frames_per_second
        return None if rate is None else (self.total_frames - self.frames_done) / rate

    def speed(self) -> str:
        """``"12.5 frames/s · 3 min 20 s left"``, or "" until there is a rate."""
        if self.frames_per_second is None:
            return ""
        return f"{self.frames_per_second:.3g} frames/s · {duration(self.seconds_left)} left"

    def text(self) -> str:
        """One line: ``chunk 2 of 5 · 12.5 frames/s · 3 min 20 s left``."""
        if not self.total_frames:
            return self.status or "starting"
        return " · ".join(part for part in (f"chunk {self.chunk} of {self.num_chunks}", self.status or self.speed())
                          if part)


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


class ProgressBar:
    """tqdm bars on stderr: the run's (drawn from a `RunProgress`) and the weights' download.

    Parameters
    ----------
    progress : RunProgress
        What the run bar shows.
    enabled : bool
        False draws nothing (``--quiet``).
    file : file, optional
        Where to draw; stderr by default.
    tqdm_class : type, optional
        tqdm's bar, or another with its interface (``tqdm.auto.tqdm`` draws a widget in Jupyter).
    """

    # tqdm's own rate would count the model loading and detector training as tracking time
    FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} frames [{elapsed}{postfix}]"

    def __init__(self, progress: RunProgress, enabled: bool = True, file=None, tqdm_class=tqdm):
        self.progress = progress
        self.tqdm_class = tqdm_class
        self.enabled = enabled
        self.file = file or sys.stderr
        self._bar = None
        self._download = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def download(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        if self._download is None:
            self._download = self.tqdm_class(
                total=total, unit="B", unit_scale=True, desc="SAM2 weights", file=self.file, disable=False
            )
        self._download.update(done - self._download.n)
        if total and done >= total:
            self._download.close()
            self._download = None

    def show(self, notes: list[str] = ()) -> None:
        """Draw the progress as it is now, and print ``notes`` above the bar."""
        progress = self.progress
        if not self.enabled or not progress.total_frames:
            return
        if self._bar is None:
            self._bar = self.tqdm_class(
                total=progress.total_frames, initial=progress.frames_done, bar_format=self.FORMAT,
                file=self.file, dynamic_ncols=True, disable=False,
            )
        description = progress.status or f"chunk {progress.chunk}/{progress.num_chunks}"
        # a new description shows at once (training has no frames to trigger a redraw), a new rate waits
        self._bar.set_description_str(description, refresh=description != self._bar.desc)
        self._bar.set_postfix_str(progress.speed(), refresh=False)
        self._bar.update(progress.frames_done - self._bar.n)
        for note in notes:
            self._bar.write(note, file=self.file)

    def close(self) -> None:
        for bar in (self._bar, self._download):
            if bar is not None:
                bar.close()
        self._bar = self._download = None
