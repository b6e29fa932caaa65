"""The real two-mice clip tracked with no clicks: boxes from a contrast run's labels, shuffled, with misses
and false boxes, linked by ByteTrack into two identities (skips when the clip is absent)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import tifffile

from napari_sam2_longvideo.cli import main
from napari_sam2_longvideo.io.detections import write_detections_csv
from napari_sam2_longvideo.testing.linked_boxes import at_episodes, boxes_from_labels, identity_changes

from ..real_data import REAL_360P

pytestmark = pytest.mark.skipif(not REAL_360P.exists(), reason="the real two-mice clip is not here")
FRAMES = 300


@pytest.fixture(scope="module")
def clicked_run(tmp_path_factory):
    """The whole clip tracked from one click per mouse, and the frames where its two mice touch (its own
    ``merged`` episodes, from ``review``): there even this reference cannot be sure who is who."""
    folder = tmp_path_factory.mktemp("clicked")
    clicks = folder / "clicks.csv"
    clicks.write_text("frame,y,x,animal,positive\n0,60,185,1,1\n0,250,275,2,1\n")
    run = folder / "run"
    assert main(["track", str(REAL_360P), "--backend", "contrast", "--quiet", "--prompts", str(clicks),
                 "--out", str(run)]) == 0
    assert main(["review", str(run)]) == 0
    with open(run / "review.csv") as handle:
        touching = [(int(r["start"]), int(r["stop"])) for r in csv.DictReader(handle) if r["reason"] == "merged"]
    return tifffile.imread(run / "labels.tif"), touching


@pytest.mark.slow
@pytest.mark.parametrize("link", ["bytetrack", "botsort"])
def test_the_whole_clip_without_clicks_keeps_both_mice_and_their_identities(tmp_path, clicked_run, link):
    clicked, touching = clicked_run
    boxes = write_detections_csv(tmp_path / "boxes.csv", boxes_from_labels(clicked))
    out = tmp_path / "linked"
    assert main(["track", str(REAL_360P), "--backend", "contrast", "--quiet", "--detections", str(boxes),
                 "--link", link, "--animals", "2", "--out", str(out)]) == 0
    linked = tifffile.imread(out / "labels.tif")
    assert linked.shape == clicked.shape
    both = np.mean([(frame == 1).any() and (frame == 2).any() for frame in linked])
    assert both >= 0.9, f"both mice on {both:.1%} of frames"

    # the linked labels keep to the clicked run's identities wherever the mice are apart; a change is
    # allowed only across an episode where they touch
    changes = identity_changes(linked, clicked)
    while_touching = at_episodes(changes, touching)
    print(f"{link}: both mice on {both:.1%}; identity changes against the clicked run {changes}, "
          f"{len(while_touching)} of them where the mice touch, of {len(touching)} such episodes")
    assert changes == while_touching, "an identity switch where the mice are apart"
    assert len(while_touching) <= 3
    # and the linked run's own review points at each of them: a touch its masks show, or a close call
    assert main(["review", str(out)]) == 0
    with open(out / "review.csv") as handle:
        listed = [(int(r["start"]), int(r["stop"])) for r in csv.DictReader(handle)
                  if r["reason"] in ("merged", "close_assignment")]
    assert at_episodes(changes, listed) == changes, (changes, listed)
    with open(out / "tracks.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["class_name"] for r in rows if r["track_id"] != "-1"} == {"mouse"}


@pytest.mark.parametrize("link", ["bytetrack"])
def test_real_clip_without_clicks_keeps_both_mice(tmp_path, link):
    clicks = tmp_path / "clicks.csv"
    clicks.write_text("frame,y,x,animal,positive\n0,60,185,1,1\n0,250,275,2,1\n")
    common = [str(REAL_360P), "--backend", "contrast", "--max-frames", str(FRAMES), "--quiet"]
    assert main(["track", *common, "--prompts", str(clicks), "--out", str(tmp_path / "clicked")]) == 0
    clicked = tifffile.imread(tmp_path / "clicked" / "labels.tif")
    boxes = write_detections_csv(tmp_path / "boxes.csv", boxes_from_labels(clicked))

    out = tmp_path / "linked"
    assert main(["track", *common, "--detections", str(boxes), "--link", link, "--animals", "2",
                 "--out", str(out)]) == 0
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
