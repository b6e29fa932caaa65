"""Training YOLO for real on the CPU, from a generated clip's masks, and using it for later chunks."""

import json

import numpy as np
import pytest

from napari_sam2_longvideo.engine.detection.detector import YoloDetector
from napari_sam2_longvideo.engine.detection.training import (
    letterbox,
    train_detector,
    write_training_set,
)
from napari_sam2_longvideo.engine.events import ChunkDone, DetectorTraining
from napari_sam2_longvideo.errors import UserInputError
from napari_sam2_longvideo.io.frames import open_frames
from napari_sam2_longvideo.io.prompts import Prompts
from napari_sam2_longvideo.run import run_tracking
from napari_sam2_longvideo.settings import TrackSettings
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses
from napari_sam2_longvideo.testing.truth_backend import TruthBackend

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clip():
    return crossing_ellipses(num_frames=30, height=96, width=128)


def test_letterbox_keeps_the_aspect_and_centres_the_image():
    image = np.full((50, 100, 3), 7, np.uint8)
    boxed, scale, pad_x, pad_y = letterbox(image, 64)
    assert boxed.shape == (64, 64, 3) and scale == 0.64 and (pad_x, pad_y) == (0, 16)
    assert (boxed[16:48] == 7).all() and (boxed[:16] == 114).all()


def test_training_set_has_one_box_per_visible_animal_in_yolo_format(tmp_path, clip):
    data = write_training_set(
        open_frames(clip.frames), lambda t: clip.truth[t], range(10), [1, 2], tmp_path / "ds", 64
    )
    assert "names:\n  0: animal" in data.read_text()
    train = sorted((tmp_path / "ds" / "labels" / "train").iterdir())
    val = sorted((tmp_path / "ds" / "labels" / "val").iterdir())
    assert len(train) == 8 and len(val) == 2
    first = [line.split() for line in train[0].read_text().splitlines()]
    assert len(first) == 2 and all(row[0] == "0" for row in first)
    # the box of ellipse 1 on frame 0, letterboxed: 128x96 scaled by 0.5 into 64x64, 8 px of padding on top
    ys, xs = np.nonzero(clip.truth[0] == 1)
    x_center = (xs.min() + xs.max() + 1) / 2 * 0.5 / 64
    y_center = ((ys.min() + ys.max() + 1) / 2 * 0.5 + 8) / 64
    assert [float(v) for v in first[0][1:3]] == pytest.approx([x_center, y_center], abs=1e-5)


def test_no_animal_in_the_training_frames_is_a_clear_error(tmp_path, clip):
    with pytest.raises(UserInputError, match="nothing to train the detector on"):
        write_training_set(open_frames(clip.frames), lambda t: np.zeros((96, 128), np.uint8), range(6), [1, 2],
                           tmp_path / "ds", 64)


def test_a_detector_trained_from_its_yaml_is_saved_loaded_and_runs(tmp_path, clip):
    data = write_training_set(open_frames(clip.frames), lambda t: clip.truth[t], range(20), [1, 2], tmp_path / "ds", 64)
    out = tmp_path / "detector.pt"
    events = list(train_detector(data, out, epochs=2, patience=5, size=64, device="cpu", base="yolo11n.yaml"))
    assert [e.epoch for e in events] == [1, 2] and all(isinstance(e, DetectorTraining) for e in events)
    assert out.exists() and (tmp_path / "detector_metrics.csv").exists()
    found = YoloDetector(out, confidence=0.0001, image_size=64).detect(clip.frames[25])
    assert found.boxes.shape[1] == 4 and len(found.boxes) == len(found.confidences)


def test_train_detector_in_a_run_trains_after_the_first_frames_and_seeds_later_chunks(tmp_path, clip, monkeypatch):
    seen = []
    detect = YoloDetector.detect
    monkeypatch.setattr(YoloDetector, "detect", lambda self, image, frame=None: seen.append(self.weights.name) or detect(self, image, frame))
    prompts = Prompts(clip.center_prompts(0), source="test")
    settings = TrackSettings(
        chunk_size=10, train_detector=True, train_frames=10, detector_epochs=1, detector_imgsz=64,
        detector_conf=0.01, device="cpu",
    )
    out = tmp_path / "run"
    events = list(run_tracking(clip.frames, prompts, settings, out, backend=TruthBackend(clip)))

    training = [i for i, e in enumerate(events) if isinstance(e, DetectorTraining)]
    first_chunk = next(i for i, e in enumerate(events) if isinstance(e, ChunkDone))
    assert training and training[0] > first_chunk  # trained on the first chunk's masks, once
    assert len(training) == 1
    assert (out / "detector.pt").exists() and (out / "detector_metrics.csv").exists()
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished" and run["settings"]["train_detector"] is True
    assert "frames_without_detection" in run
    # the trained detector looked at the start of both later chunks (and on, where an animal was lost)
    assert len(seen) >= 2 and set(seen) == {"detector.pt"}


def test_a_missing_detector_file_is_a_clear_error(tmp_path):
    with pytest.raises(UserInputError, match="Detector weights .*nope.pt do not exist"):
        YoloDetector(tmp_path / "nope.pt")
