"""``segment`` and ``--overlay`` on the real two-mice clip (skip when it is absent): 20 frames as images,
boxes from a contrast run's labels; and an overlay of a linked run over the whole clip."""

from __future__ import annotations

import csv

import av
import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_sam2_longvideo.cli import main
from napari_sam2_longvideo.core.geometry import mask_box
from napari_sam2_longvideo.io.detections import write_detections_csv
from napari_sam2_longvideo.io.frames import open_frames

from ..real_data import REAL_360P

pytestmark = pytest.mark.skipif(not REAL_360P.exists(), reason="the real two-mice clip is not here")
CLICKS = "frame,y,x,animal,positive\n0,60,185,1,1\n0,250,275,2,1\n"


def frame_count(video):
    with av.open(str(video)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_segment_20_frames_as_images_gives_an_object_per_box_with_its_class_name(tmp_path):
    clicks = tmp_path / "clicks.csv"
    clicks.write_text(CLICKS)
    assert main(["track", str(REAL_360P), "--backend", "contrast", "--max-frames", "20", "--prompts", str(clicks),
                 "--out", str(tmp_path / "clicked"), "--quiet"]) == 0
    clicked = tifffile.imread(tmp_path / "clicked" / "labels.tif")
    images = tmp_path / "images"
    images.mkdir()
    frames = open_frames(REAL_360P)
    rows = []
    for t in range(20):
        Image.fromarray(frames.read(t)).save(images / f"mouse_{t}.png")
        rows += [(t, *mask_box(clicked[t] == a), 0.9, 0, "mouse") for a in (1, 2) if (clicked[t] == a).any()]
    boxes = write_detections_csv(tmp_path / "boxes.csv", rows)
    out = tmp_path / "segmented"
    assert main(["segment", str(images), "--detections", str(boxes), "--backend", "contrast", "--out", str(out),
                 "--overlay", str(tmp_path / "segmented.mp4"), "--quiet"]) == 0
    with open(out / "objects.csv") as handle:
        objects = list(csv.DictReader(handle))
    assert len(objects) == len(rows) >= 30 and {o["class_name"] for o in objects} == {"mouse"}
    labels = tifffile.imread(out / "labels.tif")
    for o in objects:  # each object is the mouse its box was drawn around
        frame, label = int(o["frame"]), int(o["label"])
        box = np.array([float(o[c]) for c in ("x0", "y0", "x1", "y1")])
        animal = next(a for a in (1, 2) if np.array_equal(mask_box(clicked[frame] == a), box))
        ours, theirs = labels[frame] == label, clicked[frame] == animal
        assert np.logical_and(ours, theirs).sum() / np.logical_or(ours, theirs).sum() > 0.6
    assert frame_count(tmp_path / "segmented.mp4") == 20


@pytest.mark.slow
def test_a_linked_run_over_the_whole_clip_writes_an_overlay_of_as_many_frames(tmp_path):
    from napari_sam2_longvideo.testing.linked_boxes import boxes_from_labels

    clicks = tmp_path / "clicks.csv"
    clicks.write_text(CLICKS)
    common = [str(REAL_360P), "--backend", "contrast", "--quiet"]
    assert main(["track", *common, "--prompts", str(clicks), "--out", str(tmp_path / "clicked")]) == 0
    clicked = tifffile.imread(tmp_path / "clicked" / "labels.tif")
    boxes = write_detections_csv(tmp_path / "boxes.csv", boxes_from_labels(clicked))
    overlay = tmp_path / "linked.mp4"
    assert main(["track", *common, "--detections", str(boxes), "--link", "bytetrack", "--animals", "2",
                 "--overlay", str(overlay), "--out", str(tmp_path / "linked")]) == 0
    assert frame_count(overlay) == len(open_frames(REAL_360P)) == 1198
