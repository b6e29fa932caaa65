"""The tracking run as a generator for a napari thread worker, and a relay for download progress.

Cancelling is a `threading.Event` checked after every event, rather than the worker's own ``quit``:
``quit`` abandons the generator where it stands, while returning from here closes the engine's
generator in the worker thread, so its ``finally`` blocks run at once (the run is marked stopped in
``run.json``, SAM2's session is freed) and finished chunks are already on disk.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from qtpy.QtCore import QObject, Signal

from ..engine.backends.base import SegmentationBackend
from ..engine.events import Preparing
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
    try:
        if not isinstance(video, FrameSource):
            yield Preparing("opening the video")  # a long video is indexed first
        frames = open_frames(video)
        try:
            backend = backend_factory(settings) if backend_factory is not None else None
            events = run_tracking(
                frames, prompts, settings, out, overwrite=overwrite, backend=backend,
                download_progress=download_progress,
            )
            try:
                for event in events:
                    yield event
                    if stop.is_set():
                        return
            finally:
                events.close()
        finally:
            if not isinstance(video, FrameSource):  # a FrameSource passed in belongs to its layer
                frames.close()
    except RuntimeError as error:  # torch's errors (CUDA out of memory, ...) are RuntimeErrors
        raise TrackingFailed(error) from error


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
