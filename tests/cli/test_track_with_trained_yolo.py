"""``track --detector yolo.pt`` in each of its three modes, with a YOLO that was built from its yaml and
trained for a few epochs on generated frames: the whole path a user takes with their own detector, on CPU.

A detector trained this briefly is poor, so the checks are about what every mode must give whatever the
boxes: the command finishes, each frame has at most the two labels asked for, and ``tracks.csv`` holds a
row for each animal on each frame. How well identities hold with good boxes is tested with boxes derived
from the truth (test_linked_tracking.py, test_detector_loop.py).
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import tifffile

from napari_sam2_longvideo.cli import main
from napari_sam2_longvideo.io.frames import open_frames
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses

FRAMES = 24


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from napari_sam2_longvideo.engine.detection.training import train_detector, write_training_set

    folder = tmp_path_factory.mktemp("yolo")
    training = crossing_ellipses(num_frames=30, seed=1)
    data = write_training_set(open_frames(training.frames), lambda t: training.truth[t], range(30), [1, 2],
                              folder / "data", 128)
    weights = folder / "yolo.pt"
    list(train_detector(data, weights, epochs=3, patience=3, size=128, device="cpu", base="yolo11n.yaml"))
    clip = crossing_ellipses(num_frames=FRAMES)
    video = folder / "clip.tif"
    tifffile.imwrite(video, clip.frames, photometric="rgb")
    clicks = folder / "clicks.csv"
    rows = ["frame,y,x,animal,positive"] + [f"{t},{y},{x},{a},{int(p)}" for t, y, x, a, p in clip.center_prompts(0)]
    clicks.write_text("\n".join(rows) + "\n")
    return weights, video, clicks


DETECTOR = ["--detector-conf", "0.001", "--detector-imgsz", "128", "--device", "cpu"]
MODES = {
    "clicks, re-anchored by the detector": ["--prompts", "{clicks}", "--chunk-size", "8"],
    "detector + ByteTrack, no clicks": ["--link", "bytetrack", "--animals", "2"],
    "detector-prompted SAM2-LongVideo, no clicks": ["--animals", "2", "--chunk-size", "8"],
}


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_each_mode_finishes_with_two_animals_on_every_frame(tmp_path, trained, mode):
    weights, video, clicks = trained
    out = tmp_path / "out"
    options = [option.format(clicks=clicks) for option in MODES[mode]]
    command = ["track", str(video), "--detector", str(weights), *DETECTOR, *options, "--backend", "contrast",
               "--out", str(out), "--quiet"]
    assert main(command) == 0
    labels = tifffile.imread(out / "labels.tif")
    assert labels.shape[0] == FRAMES and set(np.unique(labels)) <= {0, 1, 2}
    with open(out / "tracks.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted((int(r["frame"]), int(r["animal"])) for r in rows) == [
        (t, a) for t in range(FRAMES) for a in (1, 2)
    ]
    assert main(command) == 0  # and the same command again finds the run finished
