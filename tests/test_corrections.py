"""Corrections of a finished run with exact expectations: a backend that swaps two animals on frames
57..74 (when its propagation started before 57, as a mask that slides onto the other animal while they
touch), mended by a swap and by one click; undo restores every file byte for byte."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_sam2_longvideo.corrections import (
    CorrectionWritten,
    correct_run,
    corrections_of,
    review_run,
    swap_animals,
    undo_last,
)
from napari_sam2_longvideo.engine.backends.base import FramePrediction
from napari_sam2_longvideo.engine.corrections import PaintedFrame, RejoinSettings
from napari_sam2_longvideo.engine.events import ChunkDone, FrameTracked
from napari_sam2_longvideo.errors import FolderInUseError, UserInputError
from napari_sam2_longvideo.io.prompts import Prompts
from napari_sam2_longvideo.io.run_lock import RunLock
from napari_sam2_longvideo.io.store import LabelStore
from napari_sam2_longvideo.run import run_tracking
from napari_sam2_longvideo.settings import TrackSettings
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses
from napari_sam2_longvideo.testing.truth_backend import TruthBackend, TruthSession

SWAPPED = range(57, 75)  # the frames the swapping backend gets wrong
SETTINGS = TrackSettings(chunk_size=40, device="cpu")  # chunks 0-39, 40-79, 80-119


class SwappingSession(TruthSession):
    def propagate(self, from_frame, reverse=False):
        for prediction in super().propagate(from_frame, reverse):
            self.backend.asked.append(prediction.frame)
            if not reverse and from_frame < SWAPPED.start and prediction.frame in SWAPPED:
                ids = tuple({1: 2, 2: 1}.get(a, a) for a in prediction.animal_ids)
                prediction = FramePrediction(prediction.frame, ids, prediction.logits, prediction.scores)
            yield prediction


class SwappingBackend(TruthBackend):
    """The truth, except that animals 1 and 2 are exchanged on frames 57..74 by a session that started
    before; ``asked`` lists every frame a session was asked to predict."""

    def __init__(self, clip):
        super().__init__(clip)
        self.asked = []

    def start_session(self, frames, start, stop):
        session = SwappingSession(self, start, stop)
        self.sessions.append(session)
        return session


@pytest.fixture(scope="module")
def clip():
    return crossing_ellipses(num_frames=120, height=48, width=64)


@pytest.fixture
def run(tmp_path, clip):
    out = tmp_path / "run"
    list(run_tracking(clip.frames, Prompts(clip.center_prompts(0)), SETTINGS, out, backend=SwappingBackend(clip)))
    return out


def labels(out):
    return tifffile.imread(Path(out) / "labels.tif")


def wrong_frames(out, clip):
    found = labels(out)
    return [t for t in range(len(found)) if not np.array_equal(found[t], clip.truth[t])]


def snapshot(out):
    """Every byte of the labels, records and exports."""
    out = Path(out)
    files = [f for d in ("labels.zarr", "store") for f in sorted((out / d).rglob("*")) if f.is_file()]
    return {str(f.relative_to(out)): hashlib.sha1(f.read_bytes()).hexdigest()
            for f in files + [out / "labels.tif", out / "tracks.csv"]}


def click(clip, frame, animal):
    """A point on ``animal``'s visible body, off the other ellipse, nearest its centre."""
    ys, xs = np.nonzero((clip.truth[frame] == animal) & ~clip.full_masks[frame, 2 - animal])
    centre = clip.centers[frame, animal - 1]
    i = int(np.argmin((ys - centre[0]) ** 2 + (xs - centre[1]) ** 2))
    return (frame, float(ys[i]), float(xs[i]), animal, True)


def correct(out, clip, rows, backend=None, **rejoin):
    events = list(correct_run(out, Prompts(rows, "fix.csv"), RejoinSettings(**rejoin), backend=backend,
                              source=clip.frames))
    assert isinstance(events[-1], CorrectionWritten)
    assert all(isinstance(e, FrameTracked) for e in events[:-1])
    return events[-1].entry


def test_the_swapping_backend_makes_exactly_the_mistake(run, clip):
    assert wrong_frames(run, clip) == list(SWAPPED)


def test_swap_mends_the_swapped_frames_and_undo_restores_every_byte(run, clip):
    before, tracks = snapshot(run), labels(run)
    entry = swap_animals(run, 1, 2, 57, 74)
    assert wrong_frames(run, clip) == []
    assert np.array_equal(labels(run)[:57], tracks[:57]) and np.array_equal(labels(run)[75:], tracks[75:])
    assert {k: entry[k] for k in ("kind", "frame", "to", "animals", "frames_retracked", "start", "stop")} == {
        "kind": "swap", "frame": 57, "to": 74, "animals": [1, 2], "frames_retracked": 0, "start": 57, "stop": 75}
    assert corrections_of(run) == [entry]
    metadata = json.loads((run / "run.json").read_text())
    assert metadata["corrected"] is True and metadata["corrections"] == 1

    assert undo_last(run) == entry
    assert snapshot(run) == before
    assert corrections_of(run) == [] and not (run / "corrections" / "0001").exists()
    assert json.loads((run / "run.json").read_text())["corrected"] is False


def test_swap_exchanges_the_tracks_rows_and_nothing_else(run):
    old_text = (run / "tracks.csv").read_text().splitlines()
    old = np.genfromtxt(run / "tracks.csv", delimiter=",", names=True)
    swap_animals(run, 1, 2, 57)  # to the end
    new = np.genfromtxt(run / "tracks.csv", delimiter=",", names=True)
    assert (run / "tracks.csv").read_text().splitlines()[: 1 + 2 * 57] == old_text[: 1 + 2 * 57]
    for animal, other in ((1, 2), (2, 1)):
        mine = (new["frame"] >= 57) & (new["animal"] == animal)
        theirs = (old["frame"] >= 57) & (old["animal"] == other)
        for name in ("area", "centroid_y", "centroid_x", "score", "lost", "merged"):
            assert np.array_equal(new[name][mine], old[name][theirs], equal_nan=True), name


def test_one_click_at_57_mends_the_swap_retracking_only_until_the_truth_is_rejoined(run, clip):
    before, old = snapshot(run), labels(run)
    backend = SwappingBackend(clip)
    entry = correct(run, clip, [click(clip, 57, 1)], backend=backend)
    assert wrong_frames(run, clip) == []
    # right again from 75 on; 10 agreeing frames (75..84) and it stops. Frame 79 is asked twice: the
    # second session (chunk 80-119) starts from the mask carried on 79.
    assert backend.asked == list(range(57, 80)) + list(range(79, 85))
    assert {k: entry[k] for k in ("kind", "frame", "animals", "frames_retracked", "rejoined", "start", "stop")} == {
        "kind": "retrack", "frame": 57, "animals": [1], "frames_retracked": 28, "rejoined": True,
        "start": 57, "stop": 85}
    assert np.array_equal(labels(run)[:57], old[:57])  # byte for byte: the arrays and...
    assert all(before[k] == v for k, v in snapshot(run).items() if k.startswith("store/records_00000"))
    undo_last(run)
    assert snapshot(run) == before


def test_the_frame_57_painted_right_mends_the_swap_until_the_truth_is_rejoined(run, clip):
    before, old = snapshot(run), labels(run)
    painted = PaintedFrame(57, clip.truth[57].astype(old.dtype))
    events = list(correct_run(run, painted, backend=SwappingBackend(clip), source=clip.frames))
    entry = events[-1].entry
    assert wrong_frames(run, clip) == []
    assert {k: entry[k] for k in ("kind", "frame", "animals", "painted", "rejoined", "start", "stop")} == {
        "kind": "retrack", "frame": 57, "animals": [1, 2], "painted": True, "rejoined": True, "start": 57, "stop": 85}
    assert np.array_equal(labels(run)[:57], old[:57])
    undo_last(run)
    assert snapshot(run) == before


def test_to_end_retracks_every_frame_to_the_end(run, clip):
    backend = SwappingBackend(clip)
    entry = correct(run, clip, [click(clip, 57, 1)], backend=backend, to_end=True)
    assert entry["frames_retracked"] == 120 - 57 and entry["rejoined"] is False
    assert backend.asked == list(range(57, 80)) + list(range(79, 120))
    assert wrong_frames(run, clip) == []


def test_rejoin_frames_and_iou_are_settings(run, clip):
    backend = SwappingBackend(clip)
    assert correct(run, clip, [click(clip, 57, 1)], backend=backend, rejoin_frames=3)["stop"] == 78
    undo_last(run)
    # an IoU of 1 is reached by the truth too; the old frames 57..74 never agree, at any IoU above 0
    assert correct(run, clip, [click(clip, 57, 1)], backend=backend, rejoin_iou=1.0)["stop"] == 85


def test_two_corrections_are_undone_in_order(run, clip):
    first = snapshot(run)
    swap_animals(run, 1, 2, 57, 74)
    second = snapshot(run)
    entry = correct(run, clip, [click(clip, 30, 2)], backend=SwappingBackend(clip))
    assert entry["frame"] == 30 and entry["backup"] == "corrections/0002"
    assert [e["kind"] for e in corrections_of(run)] == ["swap", "retrack"]
    assert undo_last(run)["kind"] == "retrack" and snapshot(run) == second
    assert undo_last(run)["kind"] == "swap" and snapshot(run) == first
    with pytest.raises(UserInputError, match="no correction to undo"):
        undo_last(run)


def test_closing_a_correction_early_keeps_the_frames_retracked_so_far(run, clip):
    events = correct_run(run, Prompts([click(clip, 57, 1)], "fix"), backend=SwappingBackend(clip), source=clip.frames)
    for event in events:
        if event.frame == 62:
            break
    events.close()  # the widget's Cancel
    assert corrections_of(run)[0]["stop"] == 63
    assert wrong_frames(run, clip) == list(range(63, 75))


def test_review_lists_the_episodes_and_writes_review_csv(run):
    episodes = review_run(run)
    rows = (run / "review.csv").read_text().splitlines()
    assert rows[0] == "rank,start,stop,animals,reason,score"
    assert len(rows) == len(episodes) + 1
    first = episodes[0]
    assert rows[1] == f"1,{first.start},{first.stop},{' '.join(map(str, first.animals))},{first.reason},{first.score:g}"


# -- refusals -----------------------------------------------------------------------------------------
def test_an_unfinished_run_is_refused(tmp_path, clip):
    out = tmp_path / "stopped"
    events = run_tracking(clip.frames, Prompts(clip.center_prompts(0)), SETTINGS, out, backend=TruthBackend(clip))
    next(e for e in events if isinstance(e, ChunkDone))
    events.close()
    with pytest.raises(UserInputError, match="is not finished .*40 of 120 frames"):
        swap_animals(out, 1, 2, 10)


def test_a_folder_another_run_holds_is_refused_untouched(run, clip):
    before = snapshot(run)
    with RunLock(run):
        with pytest.raises(FolderInUseError):
            swap_animals(run, 1, 2, 10)
        with pytest.raises(FolderInUseError):
            list(correct_run(run, Prompts([click(clip, 57, 1)]), backend=SwappingBackend(clip), source=clip.frames))
        with pytest.raises(FolderInUseError):
            undo_last(run)
    assert snapshot(run) == before


@pytest.mark.parametrize("rows, message", [
    ([(57, 10.0, 64.0, 1, True)], "outside the image"),
    ([(120, 10.0, 10.0, 1, True)], "past the end"),
    ([(57, 10.0, 10.0, 3, True)], r"animal\(s\) 3 are not in this run"),
    ([(57, 10.0, 10.0, 1, True), (58, 10.0, 10.0, 2, True)], "all on the one frame"),
])
def test_unusable_correction_prompts_are_refused_and_change_nothing(run, clip, rows, message):
    before = snapshot(run)
    with pytest.raises(UserInputError, match=message):
        list(correct_run(run, Prompts(rows, "fix.csv"), backend=SwappingBackend(clip), source=clip.frames))
    assert snapshot(run) == before and corrections_of(run) == []


@pytest.mark.parametrize("args, message", [
    ((1, 3, 10), r"animal\(s\) 3 are not in this run"),
    ((1, 1, 10), "two different animals"),
    ((1, 2, 120), "frames 0 to 119"),
    ((1, 2, 50, 40), "at most --to"),
])
def test_unusable_swaps_are_refused(run, args, message):
    with pytest.raises(UserInputError, match=message):
        swap_animals(run, *args)


def test_another_video_is_refused(run, clip):
    other = crossing_ellipses(num_frames=120, height=48, width=64, seed=1)
    with pytest.raises(UserInputError, match="is not the video the run"):
        list(correct_run(run, Prompts([click(clip, 57, 1)]), backend=SwappingBackend(clip), source=other.frames))


@pytest.mark.slow
def test_sam2_corrects_mid_video_from_given_masks_and_a_click(tmp_path, clip):
    """SAM2 (random weights): the session on the corrected frame takes the other animal's mask and the
    click together; the frames before it and after the re-track are untouched; undo restores the bytes."""
    settings = TrackSettings(backend="sam2", random_weights=True, image_size=256, device="cpu", chunk_size=8,
                             max_frames=24)
    out = tmp_path / "sam2"
    frames = clip.frames[:24]
    list(run_tracking(frames, Prompts(clip.center_prompts(0)), settings, out))
    before, old = snapshot(out), labels(out)
    events = list(correct_run(out, Prompts([click(clip, 10, 1)], "fix"), RejoinSettings(rejoin_frames=3),
                              source=frames))
    entry = events[-1].entry
    assert entry["frame"] == 10 and 1 <= entry["frames_retracked"] <= 14
    new = labels(out)
    assert np.array_equal(new[:10], old[:10]) and np.array_equal(new[entry["stop"]:], old[entry["stop"]:])
    undo_last(out)
    assert snapshot(out) == before


KILLED_MIDWAY = """
import os, sys
from napari_sam2_longvideo.corrections import correct_run
from napari_sam2_longvideo.io.prompts import Prompts
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses
from tests.test_corrections import SwappingBackend, click
clip = crossing_ellipses(num_frames=120, height=48, width=64)
events = correct_run(sys.argv[1], Prompts([click(clip, 57, 1)], "fix"), backend=SwappingBackend(clip),
                     source=clip.frames)
for event in events:
    if event.frame == 72:
        os._exit(9)  # as SIGKILL or a power cut: no finally block runs, nothing more is written
"""


def test_a_correction_killed_midway_is_logged_by_the_next_command_and_undone_byte_for_byte(run, clip):
    import subprocess
    import sys

    before, old = snapshot(run), labels(run)
    done = subprocess.run([sys.executable, "-c", KILLED_MIDWAY, str(run)], cwd=Path(__file__).parents[1],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 9, done.stderr
    store = np.asarray(LabelStore.open(run, read_only=True).labels)
    # frames 57..69 (blocks of 10) were rewritten, mended, before the kill; nothing was logged
    assert np.array_equal(store[57:70], clip.truth[57:70]) and not np.array_equal(old[57:70], clip.truth[57:70])
    assert not (run / "corrections.jsonl").exists() or not (run / "corrections.jsonl").read_text().strip()
    listed = corrections_of(run)
    assert [(e["kind"], e["frame"], e["start"], e["stop"], e["interrupted"]) for e in listed] == [
        ("retrack", 57, 57, 70, True)]

    entry = undo_last(run)
    assert entry["interrupted"] and entry["backup"] == "corrections/0001"
    assert snapshot(run) == before and corrections_of(run) == []
    assert not (run / "corrections" / "0001").exists()
