"""The worker's thinning of frame reports: fewer signals to the viewer, never a count behind."""

from __future__ import annotations

import threading

from napari_sam2_longvideo._napari._worker import _thinned
from napari_sam2_longvideo.core.chunks import Chunk
from napari_sam2_longvideo.engine.events import ChunkDone, FrameTracked, RunFinished, RunStarted


def run_events(frames=20, chunk=10):
    yield RunStarted(frames, frames // chunk, 0)
    for index in range(frames // chunk):
        for frame in range(index * chunk, (index + 1) * chunk):
            yield FrameTracked(frame, frame + 1, frames)
        yield ChunkDone(Chunk(index, index * chunk, (index + 1) * chunk), 2, (index + 1) * chunk, frames, 0.1, (), {})
    yield RunFinished(frames, frames, 1.0)


def describe(events):
    return [(type(e).__name__, getattr(e, "frames_done", None)) for e in events]


def test_frames_are_thinned_but_the_last_one_before_any_other_event_goes_out():
    got = describe(_thinned(run_events(), threading.Event(), interval_s=1e9))
    assert got == [
        ("RunStarted", 0), ("FrameTracked", 1), ("FrameTracked", 10), ("ChunkDone", 10),
        ("FrameTracked", 20), ("ChunkDone", 20), ("RunFinished", None),
    ]
    assert describe(_thinned(run_events(), threading.Event(), interval_s=0)) == describe(run_events())


def test_a_stop_hands_over_the_frame_it_stopped_at():
    stop = threading.Event()

    def stopping():
        for event in run_events():
            if isinstance(event, FrameTracked) and event.frames_done == 14:
                stop.set()
            yield event

    assert describe(_thinned(stopping(), stop, interval_s=1e9))[-2:] == [("ChunkDone", 10), ("FrameTracked", 14)]
