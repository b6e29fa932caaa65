"""The tracking run as a generator for a napari thread worker, and a relay for download progress.

Cancelling is a `threading.Event` checked after every event, rather than the worker's own ``quit``:
``quit`` abandons the generator where it stands, while returning from here closes the engine's
generator in the worker thread, so its ``finally`` blocks run at once (the run is marked stopped in
``run.json``, SAM2's session is freed) and finished chunks are already on disk.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from qtpy.QtCore import QObject, Signal

from ..engine.backends.base import SegmentationBackend
from ..engine.events import FrameTracked, Preparing
from ..io.frames import open_frames
from ..io.prompts import Prompts
from ..io.source import FrameSource
from ..run import run_tracking
from ..settings import TrackSettings


def tracking_events(
    video,
    prompts: Prompts,
    settings: TrackSettings,
    out,
    stop: threading.Event,
    *,
    overwrite: bool = False,
    backend_factory: Callable[[TrackSettings], SegmentationBackend] | None = None,
    download_progress: Callable[[int, int | None], None] | None = None,
    frame_interval_s: float = 0.0,
) -> Iterator:
    """Yield `run_tracking`'s events; return after the first event that follows ``stop`` being set.

    Everything slow happens here, in the worker thread: opening the video (a long one is indexed
    first), building the model (downloading weights the first time), and tracking.

    Parameters
    ----------
    video : str, Path, FrameSource or array
        What `open_frames` takes; a path is opened anew, so the worker's decoder never competes with
        the one napari displays frames with.
    prompts, settings, out, overwrite
        As `run_tracking` takes them.
    stop : threading.Event
        Set by the widget's Cancel.
    backend_factory : callable, optional
        Makes the backend from the settings (tests pass a deterministic one).
    download_progress : callable, optional
        ``(bytes_done, bytes_total)``, called while SAM2's weights download.
    """
    with _yielding_the_cpu():
        yield from _run(video, prompts, settings, out, stop, overwrite, backend_factory, download_progress,
                        frame_interval_s)


def _run(video, prompts, settings, out, stop, overwrite, backend_factory, download_progress, frame_interval_s):
    try:
        if isinstance(video, (str, os.PathLike)):
            yield Preparing("opening the video")  # a long video is indexed first
        frames = open_frames(video)
        try:
            backend = backend_factory(settings) if backend_factory is not None else None
            events = run_tracking(
                frames, prompts, settings, out, overwrite=overwrite, backend=backend,
                download_progress=download_progress,
            )
            try:
                yield from _thinned(events, stop, frame_interval_s)
            finally:
                events.close()
        finally:
            if not isinstance(video, FrameSource):  # a FrameSource passed in belongs to its layer
                frames.close()
    except RuntimeError as error:  # torch's errors (CUDA out of memory, ...) are RuntimeErrors
        raise TrackingFailed(error) from error


# How much less this thread (and the processes it starts, the contrast backend's blob finder) counts
# for the scheduler than the viewer's thread: on a busy machine the viewer gets the cores first.
NICENESS = 10


@contextmanager
def _yielding_the_cpu():
    """Run the body at a lower scheduling priority for this thread, on Linux (where a priority is per
    thread; elsewhere nothing changes).

    napari's pool reuses the thread for other work afterwards, so this is done only where the thread
    may take its priority back (root, or a ``RLIMIT_NICE`` that allows it).
    """
    thread = threading.get_native_id()
    try:
        before = os.getpriority(os.PRIO_PROCESS, thread) if sys.platform.startswith("linux") else None
    except OSError:
        before = None
    if before is None or not NICENESS or not _may_raise_priority_to(before):
        yield
        return
    os.setpriority(os.PRIO_PROCESS, thread, min(19, before + NICENESS))
    try:
        yield
    finally:
        os.setpriority(os.PRIO_PROCESS, thread, before)


def _may_raise_priority_to(nice: int) -> bool:
    import resource

    return os.geteuid() == 0 or 20 - resource.getrlimit(resource.RLIMIT_NICE)[0] <= nice


def _thinned(events, stop: threading.Event, interval_s: float) -> Iterator:
    """``events`` until the first after ``stop`` is set, with at most one `FrameTracked` per ``interval_s``.

    Each event handed over costs the main thread a signal, a progress update and a repaint; at a few
    hundred frames a second that is what makes the time slider lag. The last `FrameTracked` held back
    goes out before any other event and on stopping, so the counts shown are never behind.
    """
    held, last = None, float("-inf")
    for event in events:
        if isinstance(event, FrameTracked):
            now = time.perf_counter()
            if now - last < interval_s and not stop.is_set():
                held = event
                continue
            held, last = None, now
        elif held is not None:
            yield held
            held = None
        yield event
        if stop.is_set():
            return


class TrackingFailed(Exception):
    """A RuntimeError from the run, wrapped so that the thread worker reports it.

    superqt's worker takes a RuntimeError for its own Qt object being deleted and drops it, emitting
    neither ``errored`` nor ``finished``: the widget would wait forever.
    """

    def __init__(self, error: RuntimeError):
        super().__init__(str(error))
        self.error = error


class DownloadRelay(QObject):
    """Called with download progress on the worker thread; re-emits it as a signal for the main thread."""

    progressed = Signal(object, object)  # bytes done, bytes in all (None when the server does not say)

    def __call__(self, done: int, total: int | None) -> None:
        self.progressed.emit(done, total)
