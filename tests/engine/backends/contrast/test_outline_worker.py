"""The contrast backend's second process: the same blobs as finding them here, errors named, nothing left running."""

import pickle
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from napari_sam2_longvideo.core.chunks import chunk_plan
from napari_sam2_longvideo.core.records import label_dtype
from napari_sam2_longvideo.engine.backends.contrast.backend import ContrastBackend
from napari_sam2_longvideo.engine.tracker import track
from napari_sam2_longvideo.errors import FrameReadError
from napari_sam2_longvideo.io.frames import open_frames
from napari_sam2_longvideo.io.prompts import Prompts
from napari_sam2_longvideo.io.store import LabelStore
from napari_sam2_longvideo.settings import TrackSettings
from napari_sam2_longvideo.testing.synthetic import (
    crossing_ellipses,
    write_frame_folder,
)


@pytest.fixture
def clip():
    return crossing_ellipses(num_frames=40, height=96, width=128, num_animals=3, seed=5)


@pytest.fixture
def worker_for_short_videos(monkeypatch):
    """Let the worker serve these short test videos too (normally only videos of 100 frames or more)."""
    monkeypatch.setattr(ContrastBackend, "WORKER_MIN_FRAMES", 5)


def track_with(frames, clip, folder):
    prompts = Prompts(clip.center_prompts(0), source="test")
    store = LabelStore.create(folder / "store", clip.truth.shape, label_dtype(prompts.animals), chunk_plan(len(frames), 15))
    backend = ContrastBackend(TrackSettings(backend="contrast"), frames, folder)
    try:
        list(track(frames, prompts, backend, store))
        return store[:], store.records(), backend.worker is not None
    finally:
        backend.close()


def test_blobs_found_in_the_worker_track_exactly_as_those_found_here(tmp_path, clip, worker_for_short_videos):
    from_folder = open_frames(write_frame_folder(clip, tmp_path / "frames"))
    here = tmp_path / "here"
    here.mkdir()
    labels, records, used_worker = track_with(open_frames(clip.frames), clip, here)  # an array: no worker
    assert not used_worker
    there = tmp_path / "there"
    there.mkdir()
    worker_labels, worker_records, used_worker = track_with(from_folder, clip, there)
    assert used_worker
    np.testing.assert_array_equal(worker_labels, labels)
    assert worker_records.tobytes() == records.tobytes()


def test_a_frame_the_worker_cannot_read_is_named_and_the_chunks_before_it_are_kept(tmp_path, clip, worker_for_short_videos):
    folder = write_frame_folder(clip, tmp_path / "frames")
    damaged = folder / "frame22.png"
    damaged.write_bytes(damaged.read_bytes()[:200])  # the header reads, the pixels do not
    frames = open_frames(folder)
    prompts = Prompts(clip.center_prompts(0), source="test")
    store = LabelStore.create(tmp_path / "store", clip.truth.shape, label_dtype(prompts.animals), chunk_plan(40, 15))
    backend = ContrastBackend(TrackSettings(backend="contrast"), frames, tmp_path)
    assert backend.worker is not None
    try:
        with pytest.raises(FrameReadError, match=r"frame 22 of .*frames") as raised:
            list(track(frames, prompts, backend, store))
        assert raised.value.frame == 22
        assert store.done_chunks == [0]
    finally:
        backend.close()


def test_the_worker_stops_when_the_backend_closes_even_in_the_middle_of_a_job(tmp_path, clip, worker_for_short_videos):
    frames = open_frames(write_frame_folder(clip, tmp_path / "frames"))
    backend = ContrastBackend(TrackSettings(backend="contrast"), frames, tmp_path)
    session = backend.start_session(frames, 0, 40)
    for _, y, x, animal, _ in clip.center_prompts(0):
        session.add_points(0, animal, np.array([[y, x]]), np.array([True]))
    predictions = session.propagate(0)
    for _ in range(6):  # a session stopped early leaves the worker ahead of it
        next(predictions)
    predictions.close()
    session.close()
    process = backend.worker._process
    backend.close()
    assert not process.is_alive() and backend.worker is None


def test_closing_ends_the_thread_that_sent_the_jobs(tmp_path, clip, worker_for_short_videos):
    """Left running, that thread could still be dropping the queue's semaphores as Python exits, which
    then warns of "leaked semaphore objects" (2 of 8 runs of the command on the real clip did)."""
    def senders():
        return {t for t in threading.enumerate() if t.name == "QueueFeederThread" and t.is_alive()}

    before = senders()
    *_, used_worker = track_with(open_frames(write_frame_folder(clip, tmp_path / "frames")), clip, tmp_path)
    assert used_worker
    assert senders() == before


def test_frame_errors_cross_to_another_process_whole():
    error = pickle.loads(pickle.dumps(FrameReadError("clip.mp4", 7, "the decoder gave no picture for it")))
    assert isinstance(error, FrameReadError) and error.frame == 7 and "frame 7 of clip.mp4" in str(error)


def test_a_worker_that_cannot_start_is_reported_and_the_command_still_exits(tmp_path):
    """A worker that dies before reading its job leaves the job (the floor, larger than a pipe holds)
    unsent; the error must reach the caller and the process must still end."""
    script = f"""
import functools
import numpy as np
from napari_sam2_longvideo.engine.backends.contrast.floor import FloorModel
from napari_sam2_longvideo.engine.backends.contrast.outline_worker import OutlineWorker
from napari_sam2_longvideo.io.frames import open_frames

if __name__ == "__main__":
    worker = OutlineWorker(functools.partial(open_frames, {str(tmp_path / "gone.mp4")!r}))
    floor = FloorModel(np.full((480, 640), 200, np.uint8), True, 30.0)
    job = worker.start(range(200), floor, None, 480 * 640, 10)
    try:
        job.get(0)
    except Exception as error:
        print("reported:", error)
    worker.close()
"""
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0, finished.stderr
    assert "reported:" in finished.stdout and "gone.mp4" in finished.stdout


def test_the_worker_ends_when_the_tracking_process_is_killed(tmp_path):
    """A killed run (SIGKILL, out of memory) can send no stop: its worker must notice and end, not
    linger with the video open."""
    clip = crossing_ellipses(num_frames=12, height=60, width=80)
    folder = write_frame_folder(clip, tmp_path / "frames")
    script = f"""
import functools, sys, time
import numpy as np
from napari_sam2_longvideo.engine.backends.contrast.floor import FloorModel
from napari_sam2_longvideo.engine.backends.contrast.outline_worker import OutlineWorker
from napari_sam2_longvideo.io.frames import open_frames

if __name__ == "__main__":
    worker = OutlineWorker(functools.partial(open_frames, {str(folder)!r}))
    job = worker.start(range(12), FloorModel(np.full((60, 80), 200, np.uint8), True, 30.0), None, 60 * 80, 10)
    job.get(0)
    print(worker._process.pid, flush=True)
    time.sleep(120)
"""
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        worker_pid = int(parent.stdout.readline())
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 15
        while _alive(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker_pid), "the worker outlived the process that started it"
    finally:
        parent.kill()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by init, counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_script_without_a_main_guard_runs_its_body_once(tmp_path):
    """Notebooks and short analysis scripts call the engine at their top level: the worker process must
    not run the caller's script a second time (which, here, would track into the same folder again)."""
    clip = crossing_ellipses(num_frames=120, height=60, width=80)
    folder = write_frame_folder(clip, tmp_path / "frames")
    prompts = tmp_path / "clicks.csv"
    prompts.write_text("frame,y,x,animal,positive\n" + "".join(
        f"{f},{y},{x},{a},{int(p)}\n" for f, y, x, a, p in clip.center_prompts(0)))
    log, out = tmp_path / "body.log", tmp_path / "run"
    script = tmp_path / "analysis.py"
    script.write_text(f"""
with open({str(log)!r}, "a") as handle:
    handle.write("body ran\\n")
from napari_sam2_longvideo.cli import main
code = main(["track", {str(folder)!r}, "--prompts", {str(prompts)!r}, "--out", {str(out)!r},
             "--backend", "contrast", "--quiet"])
raise SystemExit(code)
""")
    finished = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert log.read_text() == "body ran\n"
    assert (out / "labels.tif").is_file()
