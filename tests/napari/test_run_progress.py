"""The progress line: chunks, frames per second and time left, from the engine's events (no viewer)."""

from __future__ import annotations

from napari_sam2_longvideo._napari._run_progress import RunProgress, duration
from napari_sam2_longvideo.core.chunks import Chunk
from napari_sam2_longvideo.engine.events import (
    ChunkDone,
    DetectorTraining,
    FrameTracked,
    RunStarted,
)


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def chunk_done(index: int, frames_done: int) -> ChunkDone:
    return ChunkDone(Chunk(index, index * 100, index * 100 + 100), 10, frames_done, 1000, 1.0, (), {})


def test_a_resumed_run_counts_its_own_speed_and_the_time_left():
    clock = FakeClock()
    progress = RunProgress(chunk_size=100, clock=clock)
    assert progress.text() == "starting"
    progress.update(RunStarted(total_frames=1000, num_chunks=10, frames_done=200))
    assert progress.text() == "chunk 3 of 10" and progress.frames_saved == 200
    clock.now += 10
    progress.update(FrameTracked(249, 250, 1000))
    assert progress.frames_per_second == 5.0  # 50 frames in 10 s; the 200 resumed ones do not count
    assert progress.text() == "chunk 3 of 10 · 5 frames/s · 2 min 30 s left"
    progress.update(chunk_done(2, 300))
    assert progress.frames_saved == 300 and progress.text().startswith("chunk 4 of 10")
    progress.update(DetectorTraining(epoch=2, epochs=30))
    assert progress.text() == "chunk 4 of 10 · training the detector: epoch 2 of 30"


def test_durations_read_as_a_person_says_them():
    assert [duration(s) for s in (4.4, 200, 7500)] == ["4 s", "3 min 20 s", "2 h 05 min"]
