"""What a run's progress is (chunks, frames per second, time left), from the engine's events, and the
terminal bar the command line draws from it; no viewer, a fake clock."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from napari_sam2_longvideo.core.chunks import Chunk
from napari_sam2_longvideo.engine.events import (
    ChunkDone,
    DetectorTraining,
    FrameTracked,
    ResultsWritten,
    RunFinished,
    RunStarted,
)
from napari_sam2_longvideo.progress import ProgressBar, RunProgress, duration


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def chunk_done(index: int, frames_done: int, lost=()) -> ChunkDone:
    return ChunkDone(Chunk(index, index * 100, index * 100 + 100), 10, frames_done, 1000, 1.0, lost, {})


def test_a_resumed_run_counts_its_own_speed_from_its_first_frame_and_the_time_left():
    clock = FakeClock()
    progress = RunProgress(chunk_size=100, clock=clock)
    assert progress.text() == "starting"
    progress.update(RunStarted(total_frames=1000, num_chunks=10, frames_done=200))
    assert progress.text() == "chunk 3 of 10" and progress.frames_saved == 200
    clock.now += 30  # starting the chunk's session is not tracking
    progress.update(FrameTracked(200, 201, 1000))
    assert progress.frames_per_second is None and progress.text() == "chunk 3 of 10"
    clock.now += 10
    progress.update(FrameTracked(250, 251, 1000))
    assert progress.frames_per_second == 5.0  # 50 frames in 10 s; the 200 resumed ones do not count
    assert progress.text() == "chunk 3 of 10 · 5 frames/s · 2 min 30 s left"
    progress.update(chunk_done(2, 300))
    assert progress.frames_saved == 300 and progress.chunks_done == 3 and progress.at_chunk_end
    assert progress.text().startswith("chunk 4 of 10")
    progress.update(DetectorTraining(epoch=2, epochs=30))
    assert not progress.at_chunk_end
    assert progress.text() == "chunk 4 of 10 · training the detector: epoch 2 of 30"


def test_detector_training_does_not_count_as_tracking_time():
    clock = FakeClock()
    progress = RunProgress(chunk_size=100, clock=clock)
    progress.update(RunStarted(1000, 10, 0))
    for frame in range(100):
        progress.update(FrameTracked(frame, frame + 1, 1000))
        clock.now += 0.1
    progress.update(chunk_done(0, 100))
    clock.now += 600  # ten minutes of training
    progress.update(DetectorTraining(1, 1))
    progress.update(FrameTracked(100, 101, 1000))
    assert progress.status == ""
    clock.now += 0.1
    progress.update(FrameTracked(101, 102, 1000))
    assert abs(progress.frames_per_second - 10.0) < 1e-6  # 100 frames in 10 s, the training left out


def test_lost_animals_are_told_once_and_the_end_of_a_run_is_known():
    progress = RunProgress(chunk_size=100, clock=FakeClock())
    progress.update(RunStarted(200, 2, 0))
    assert progress.update(chunk_done(0, 100, lost=(2, 3))) == ["chunk 1: animal(s) 2, 3 lost by its last frame"]
    assert progress.update(FrameTracked(100, 101, 200)) == []
    assert not progress.finished and progress.results is None
    progress.update(RunFinished(200, 101, 5.0))
    assert progress.finished and progress.tracked_frames == 101
    written = ResultsWritten(Path("labels.tif"), Path("tracks.csv"), Path("run.json"))
    progress.update(written)
    assert progress.results == written


def test_the_terminal_bar_shows_the_chunk_the_rate_and_training_from_the_same_progress():
    clock, out = FakeClock(), io.StringIO()
    progress = RunProgress(chunk_size=100, clock=clock)
    with ProgressBar(progress, file=out) as bar:
        for event in [RunStarted(1000, 10, 200), FrameTracked(200, 201, 1000)]:
            bar.show(progress.update(event))
        clock.now += 10
        bar.show(progress.update(FrameTracked(250, 251, 1000)))
        bar._bar.refresh()  # tqdm redraws at most every 0.1 s of real time
        bar.show(progress.update(chunk_done(2, 300, lost=(1,))))
        bar.show(progress.update(DetectorTraining(3, 30)))
    drawn = out.getvalue()
    assert "chunk 3/10" in drawn and "251/1000 frames" in drawn
    assert "5 frames/s · 2 min 30 s left" in drawn
    assert "chunk 3: animal(s) 1 lost by its last frame" in drawn
    assert "training the detector: epoch 3 of 30" in drawn


def test_a_quiet_bar_draws_nothing():
    out = io.StringIO()
    progress = RunProgress(chunk_size=100, clock=FakeClock())
    with ProgressBar(progress, enabled=False, file=out) as bar:
        bar.show(progress.update(RunStarted(10, 1, 0)))
        bar.show(progress.update(chunk_done(0, 10, lost=(1,))))
        bar.download(5, 10)
    assert out.getvalue() == ""


def test_durations_read_as_a_person_says_them():
    assert [duration(s) for s in (4.4, 200, 7500)] == ["4 s", "3 min 20 s", "2 h 05 min"]


def test_start_up_steps_are_the_status_and_their_time_is_not_tracking_time():
    from napari_sam2_longvideo.engine.events import Preparing

    clock = FakeClock()
    progress = RunProgress(chunk_size=100, clock=clock)
    progress.update(Preparing("opening the video"))
    assert progress.text() == "opening the video"
    progress.update(Preparing("learning the floor from the video"))
    progress.update(RunStarted(1000, 10, 0))
    assert progress.text() == "chunk 1 of 10 · learning the floor from the video"
    clock.now += 5  # the floor
    progress.update(FrameTracked(0, 1, 1000))
    assert progress.text() == "chunk 1 of 10" and progress.frames_per_second is None
    clock.now += 0.1
    progress.update(FrameTracked(1, 2, 1000))
    assert progress.frames_per_second == pytest.approx(10.0)  # one frame in 0.1 s: the 5 s of start-up are not in it
    assert progress.text() == "chunk 1 of 10 · 10 frames/s · 1 min 40 s left"
