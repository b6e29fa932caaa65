"""A click does not make a mask sure: where the contrast backend's prompted masks come from one blob (two
touching animals clicked together, or one click taking both), the frame is flagged ``merged`` and scored as
a shared blob, as on the frames it follows."""

import csv
import subprocess
import sys

import cv2
import numpy as np
import pytest

from napari_sam2_longvideo.core.chunks import chunk_plan
from napari_sam2_longvideo.core.records import label_dtype
from napari_sam2_longvideo.engine.backends.contrast.backend import SCORE_ALONE, SCORE_SHARED, ContrastBackend
from napari_sam2_longvideo.engine.tracker import track
from napari_sam2_longvideo.io.frames import open_frames
from napari_sam2_longvideo.io.prompts import Prompts
from napari_sam2_longvideo.io.store import LabelStore
from napari_sam2_longvideo.settings import TrackSettings
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses
from tests.real_data import REAL_360P


def one_blob(clip, t):
    whole = (clip.full_masks[t, 0] | clip.full_masks[t, 1]).astype(np.uint8)
    return cv2.connectedComponents(whole)[0] == 2


def test_two_animals_clicked_on_one_blob_are_flagged_merged_and_scored_as_sharing_it(tmp_path):
    clip = crossing_ellipses(num_frames=60, height=120, width=160, seed=3)
    touching = next(t for t in range(25, 60) if one_blob(clip, t))
    prompts = Prompts(clip.center_prompts(0) + clip.center_prompts(touching))
    frames = open_frames(clip.frames)
    store = LabelStore.create(tmp_path / "store", clip.truth.shape, label_dtype([1, 2]), chunk_plan(60, 15))
    list(track(frames, prompts, ContrastBackend(TrackSettings(backend="contrast"), frames, tmp_path), store))
    records = store.records()
    at = records[records["frame"] == touching]
    assert at["prompted"].all() and not at["lost"].any()
    assert at["merged"].all() and (at["score"] == SCORE_SHARED).all()
    first = records[records["frame"] == 0]  # clicked apart: sure
    assert first["prompted"].all() and not first["merged"].any() and (first["score"] == SCORE_ALONE).all()
    # the click still decides the split: each animal's part holds its own click
    labels = store[touching]
    for animal, (_, y, x, *_) in enumerate(clip.center_prompts(touching), start=1):
        assert labels[round(y), round(x)] == animal


@pytest.mark.slow  # 906 frames of the real clip per case: 16 s each on two busy cores
@pytest.mark.skipif(not REAL_360P.exists(), reason="the real two-mice clip is not here")
@pytest.mark.parametrize("clicks", [
    "905,280,105,1,1\n905,200,165,2,1\n",  # both mice, touching: one blob, the lower-left one's click first
    "905,280,105,1,1\n",  # one of them: its mask takes the blob, the other is lost
])
def test_the_real_clip_clicked_on_frame_905_keeps_the_merged_flag(tmp_path, clicks):
    """Frame 905: the two mice touch (one blob); a click there gave one mask over both, score 1 and no flag."""
    prompts = tmp_path / "clicks.csv"
    prompts.write_text("frame,y,x,animal,positive\n0,60,185,1,1\n0,250,275,2,1\n" + clicks)
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "napari_sam2_longvideo.cli", "track", str(REAL_360P), "--prompts", str(prompts),
         "--out", str(out), "--backend", "contrast", "--max-frames", "906", "--quiet"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    with open(out / "tracks.csv") as handle:
        rows = [row for row in csv.DictReader(handle) if row["frame"] == "905"]
    areas = sorted(int(row["area"]) for row in rows)
    assert areas[0] < 0.1 * areas[1]  # what the masks are: one holds (nearly) both mice
    assert [row["merged"] for row in rows] == ["1", "1"]
