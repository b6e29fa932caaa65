"""The real two-mice clip tracked with no clicks: boxes from a contrast run's labels, shuffled, with misses
and false boxes, linked by ByteTrack into two identities (skips when the clip is absent)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import tifffile

from napari_sam2_longvideo.cli import main
from napari_sam2_longvideo.core.geometry import mask_box
from napari_sam2_longvideo.io.detections import write_detections_csv

from ..real_data import REAL_360P

pytestmark = pytest.mark.skipif(not REAL_360P.exists(), reason="the real two-mice clip is not here")
FRAMES = 300


def boxes_from_labels(labels, seed=0):
    """Each label's box on each frame, shuffled, 10% missed, and a false box on a third of the frames in
    the frame's corners, where the arena's walls are and no mouse goes."""
    rng = np.random.default_rng(seed)
    height, width = labels.shape[1:]
    rows = []
    for frame, image in enumerate(labels):
        found = [(*mask_box(image == a), rng.uniform(0.6, 0.95)) for a in (1, 2) if (image == a).any()]
        found = [box for box in found if rng.random() >= 0.1]
        if rng.random() < 1 / 3:
            x0, y0 = rng.choice([5.0, width - 45.0]), rng.choice([3.0, height - 33.0])
            found.append((x0, y0, x0 + 40, y0 + 30, rng.uniform(0.3, 0.7)))
        rows += [(frame, *found[i], 0, "mouse") for i in rng.permutation(len(found))]
    return rows


@pytest.mark.parametrize("link", ["bytetrack"])
def test_real_clip_without_clicks_keeps_both_mice(tmp_path, link):
    clicks = tmp_path / "clicks.csv"
    clicks.write_text("frame,y,x,animal,positive\n0,60,185,1,1\n0,250,275,2,1\n")
    common = [str(REAL_360P), "--backend", "contrast", "--max-frames", str(FRAMES), "--quiet"]
    assert main(["track", *common, "--prompts", str(clicks), "--out", str(tmp_path / "clicked")]) == 0
    clicked = tifffile.imread(tmp_path / "clicked" / "labels.tif")
    boxes = write_detections_csv(tmp_path / "boxes.csv", boxes_from_labels(clicked))

    out = tmp_path / "linked"
    assert main(["track", *common, "--detections", str(boxes), "--link", link, "--animals", "2", "--out", str(out)]) == 0
    linked = tifffile.imread(out / "labels.tif")
    assert linked.shape == clicked.shape
    both = [(linked[f] == 1).any() and (linked[f] == 2).any() for f in range(FRAMES)]
    print(f"{link}: both mice on {np.mean(both):.1%} of {FRAMES} frames")
    assert np.mean(both) >= 0.9

    def overlap(frame, a, b):
        return np.logical_and(linked[frame] == a, clicked[frame] == b).sum()

    # which linked label is which clicked mouse, on the first frame; then on every frame (no switch)
    same = overlap(0, 1, 1) + overlap(0, 2, 2) > overlap(0, 1, 2) + overlap(0, 2, 1)
    pairs = [(1, 1), (2, 2)] if same else [(1, 2), (2, 1)]
    swapped = [(a, 3 - b) for a, b in pairs]
    for frame in range(FRAMES):
        kept = sum(overlap(frame, a, b) for a, b in pairs)
        assert kept >= sum(overlap(frame, a, b) for a, b in swapped), frame
    with open(out / "tracks.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert "class_name" in rows[0] and {r["class_name"] for r in rows if r["track_id"] != "-1"} == {"mouse"}
