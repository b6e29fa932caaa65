"""One run into a folder: its lock is held from the start to however the run ends, in this very process
as the napari widget runs it (the command line's cases are in tests/cli/test_track.py)."""

import json
import os
import socket

import pytest

from napari_sam2_longvideo.engine.events import ChunkDone, ResultsWritten
from napari_sam2_longvideo.errors import FolderInUseError, UserInputError
from napari_sam2_longvideo.io.prompts import Prompts
from napari_sam2_longvideo.io.run_lock import HOLDER_FILE, LOCK_FILE, RunLock
from napari_sam2_longvideo.run import run_tracking
from napari_sam2_longvideo.settings import TrackSettings
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses
from napari_sam2_longvideo.testing.truth_backend import TruthBackend

SETTINGS = TrackSettings(chunk_size=6, device="cpu")


@pytest.fixture(scope="module")
def clip():
    return crossing_ellipses(num_frames=24, height=48, width=64)


def start(clip, out, **options):
    return run_tracking(clip.frames, Prompts(clip.center_prompts(0)), SETTINGS, out, backend=TruthBackend(clip),
                        **options)


def until_chunk(events):
    for event in events:
        if isinstance(event, ChunkDone):
            return event
    raise AssertionError("no chunk finished")


def test_a_second_run_is_refused_while_the_first_is_under_way_and_welcome_once_it_is_closed(tmp_path, clip):
    out = tmp_path / "run"
    first = start(clip, out)
    until_chunk(first)  # suspended in the middle of the run, as a widget's worker between two chunks
    note = json.loads((out / HOLDER_FILE).read_text())
    assert note["pid"] == os.getpid() and note["host"] == socket.gethostname()

    with pytest.raises(FolderInUseError, match=f"in use by another run \\(process {os.getpid()} on host") as error:
        next(start(clip, out, overwrite=True))
    assert isinstance(error.value, UserInputError) and str(out) in str(error.value)
    assert json.loads((out / "run.json").read_text())["status"] == "running"  # --overwrite cleared nothing

    first.close()  # the widget's Cancel, the command line's Ctrl-C: the generator is closed early
    assert json.loads((out / "run.json").read_text())["status"] == "stopped"
    assert not (out / HOLDER_FILE).exists()
    events = list(start(clip, out))  # resumes at once
    assert isinstance(events[-1], ResultsWritten)
    assert json.loads((out / "run.json").read_text())["status"] == "finished"


def test_the_lock_is_released_when_the_run_raises(tmp_path, clip):
    class Failing(TruthBackend):
        def start_session(self, frames, start, stop):
            if start > 0:
                raise RuntimeError("out of memory, say")
            return super().start_session(frames, start, stop)

    out = tmp_path / "run"
    events = run_tracking(clip.frames, Prompts(clip.center_prompts(0)), SETTINGS, out, backend=Failing(clip))
    with pytest.raises(RuntimeError, match="out of memory"):
        list(events)
    assert json.loads((out / "run.json").read_text())["status"] == "failed"
    with RunLock(out):
        assert json.loads((out / HOLDER_FILE).read_text())["pid"] == os.getpid()
    assert (out / LOCK_FILE).exists() and not (out / HOLDER_FILE).exists()


def test_a_folder_created_for_a_run_that_failed_at_once_is_removed(tmp_path, clip):
    class Broken(TruthBackend):
        def start_session(self, frames, start, stop):
            raise RuntimeError("no session")

    out = tmp_path / "new" / "run"
    with pytest.raises(RuntimeError, match="no session"):
        list(run_tracking(clip.frames, Prompts(clip.center_prompts(0)), SETTINGS, out, backend=Broken(clip)))
    assert not out.exists()  # no empty store, no run.json, no lock: as if it had never been asked for


def test_a_refusal_says_so_when_the_holder_has_not_written_its_note(tmp_path):
    with RunLock(tmp_path) as held:
        held.holder_path.unlink()
        with pytest.raises(FolderInUseError, match="its process has not said which it is yet"):
            RunLock(tmp_path).acquire()
