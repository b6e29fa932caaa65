"""``sam2-longvideo segment``, run as a user runs it: boxes from a file or a YOLO model, each segmented."""

from __future__ import annotations

import csv
import dataclasses
import json

import av
import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_sam2_longvideo.cli import main
from napari_sam2_longvideo.core.geometry import mask_box
from napari_sam2_longvideo.io.detections import write_detections_csv
from napari_sam2_longvideo.io.objects import OBJECT_COLUMNS
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses, write_frame_folder

FRAMES = 6


def truth_boxes(truth, confidences=(0.9, 0.7)):
    """Each animal's box on each frame, a little loose, as rows of a detections file."""
    rows = []
    for frame, labels in enumerate(truth):
        for animal, confidence in zip((1, 2), confidences):
            x0, y0, x1, y1 = mask_box(labels == animal)
            rows.append((frame, x0 - 2, y0 - 2, x1 + 2, y1 + 2, confidence, animal - 1, f"kind{animal}"))
    return rows


def iou(a, b):
    return np.logical_and(a, b).sum() / np.logical_or(a, b).sum()


def read_objects(out):
    with open(out / "objects.csv") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def clip():
    """The first frames of a clip whose ellipses cross later: apart, so a loose box holds one animal."""
    whole = crossing_ellipses(num_frames=60)
    return dataclasses.replace(whole, frames=whole.frames[:FRAMES], truth=whole.truth[:FRAMES],
                               full_masks=whole.full_masks[:FRAMES], centers=whole.centers[:FRAMES])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, clip):
    folder = tmp_path_factory.mktemp("inputs")
    boxes = write_detections_csv(folder / "boxes.csv", truth_boxes(clip.truth))
    return write_frame_folder(clip, folder / "frames"), boxes


def test_each_box_becomes_an_object_with_its_class_name(tmp_path, clip, inputs):
    images, boxes = inputs
    out = tmp_path / "out"
    assert main(["segment", str(images), "--detections", str(boxes), "--backend", "contrast", "--out", str(out),
                 "--quiet"]) == 0
    labels = tifffile.imread(out / "labels.tif")
    assert labels.shape == (FRAMES, 96, 128)
    rows = read_objects(out)
    assert tuple(rows[0]) == OBJECT_COLUMNS and len(rows) == 2 * FRAMES
    for row in rows:
        frame, label = int(row["frame"]), int(row["label"])
        animal = 1 if row["class_name"] == "kind1" else 2
        assert label == animal  # kind1's boxes are the more confident: label 1
        assert int(row["class_id"]) == animal - 1 and float(row["confidence"]) == (0.9 if animal == 1 else 0.7)
        assert int(row["area"]) == (labels[frame] == label).sum() > 0
        assert iou(labels[frame] == label, clip.truth[frame] == animal) > 0.8
    run = json.loads((out / "run.json").read_text())
    assert run["command"] == "segment" and run["status"] == "finished" and run["objects"] == 2 * FRAMES
    assert run["segmenter"]["name"] == "contrast" and run["class_names"] == {"0": "kind1", "1": "kind2"}


def test_one_image_a_tiff_stack_and_a_video_are_segmented_frame_by_frame(tmp_path, clip, inputs):
    _, boxes = inputs
    Image.fromarray(clip.frames[0]).save(tmp_path / "one.png")
    tifffile.imwrite(tmp_path / "stack.tif", clip.frames)
    with av.open(str(tmp_path / "clip.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        for image in clip.frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    one_image_boxes = write_detections_csv(tmp_path / "first.csv", truth_boxes(clip.truth[:1]))
    for name, source, csv_file, frames in [("one", "one.png", one_image_boxes, 1), ("stack", "stack.tif", boxes, FRAMES),
                                           ("video", "clip.mp4", boxes, FRAMES)]:
        out = tmp_path / name
        assert main(["segment", str(tmp_path / source), "--detections", str(csv_file), "--backend", "contrast",
                     "--out", str(out), "--quiet"]) == 0, name
        labels = tifffile.imread(out / "labels.tif")
        assert labels.reshape(-1, 96, 128).shape[0] == frames and len(read_objects(out)) == 2 * frames
        assert iou(labels.reshape(-1, 96, 128)[0] == 1, clip.truth[0] == 1) > 0.8, name


def test_the_overlay_has_as_many_frames_as_the_images(tmp_path, inputs):
    images, boxes = inputs
    overlay = tmp_path / "overlay.mp4"
    assert main(["segment", str(images), "--detections", str(boxes), "--backend", "contrast", "--out",
                 str(tmp_path / "out"), "--overlay", str(overlay), "--quiet"]) == 0
    with av.open(str(overlay)) as container:
        assert sum(1 for _ in container.decode(video=0)) == FRAMES
    assert json.loads((tmp_path / "out" / "run.json").read_text())["overlay"] == str(overlay)


def test_classes_and_confidence_choose_the_boxes(tmp_path, inputs):
    images, boxes = inputs
    out = tmp_path / "out"
    assert main(["segment", str(images), "--detections", str(boxes), "--backend", "contrast", "--classes", "1",
                 "--out", str(out), "--quiet"]) == 0
    assert {row["class_name"] for row in read_objects(out)} == {"kind2"}
    assert main(["segment", str(images), "--detections", str(boxes), "--backend", "contrast", "--detector-conf",
                 "0.8", "--out", str(out), "--overwrite", "--quiet"]) == 0
    assert {row["class_name"] for row in read_objects(out)} == {"kind1"}


def test_mistakes_are_named_and_nothing_is_written(tmp_path, inputs, capsys):
    images, boxes = inputs
    out = tmp_path / "out"
    common = [str(images), "--backend", "contrast", "--quiet"]
    assert main(["segment", *common, "--out", str(out)]) == 2
    assert "--detector yolo.pt" in capsys.readouterr().err
    late = write_detections_csv(tmp_path / "late.csv", [(FRAMES, 1, 1, 9, 9, 0.9, 0, "")])
    assert main(["segment", *common, "--detections", str(late), "--out", str(out)]) == 2
    assert f"late.csv, box 1 (frame {FRAMES})" in capsys.readouterr().err
    assert main(["segment", *common, "--detections", str(boxes), "--detector-conf", "0.95", "--out", str(out)]) == 2
    assert "found nothing in any of the 6 images" in capsys.readouterr().err
    assert not out.exists()  # the folder the run created is gone again
    assert main(["segment", *common, "--detections", str(boxes), "--overlay", str(tmp_path / "o.gif"), "--out",
                 str(out)]) == 2
    assert "o.gif" in capsys.readouterr().err
    assert main(["segment", *common, "--detections", str(boxes), "--out", str(out)]) == 0
    assert main(["segment", *common, "--detections", str(boxes), "--out", str(out)]) == 2
    assert "holds results already (labels.tif, objects.csv, run.json)" in capsys.readouterr().err
    assert main(["segment", str(tmp_path / "missing"), "--detections", str(boxes), "--out", str(tmp_path / "o2")]) == 2
    assert "missing does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_sam2s_image_predictor_with_random_weights_segments_every_box(tmp_path, inputs):
    images, boxes = inputs
    out = tmp_path / "out"
    assert main(["segment", str(images), "--detections", str(boxes), "--backend", "sam2", "--random-weights",
                 "--image-size", "256", "--device", "cpu", "--out", str(out), "--quiet"]) == 0
    rows = read_objects(out)
    assert len(rows) == 2 * FRAMES and tifffile.imread(out / "labels.tif").shape == (FRAMES, 96, 128)
    assert json.loads((out / "run.json").read_text())["segmenter"]["predictor"] == "SAM2ImagePredictor"


@pytest.mark.slow
def test_a_yolo_built_from_its_yaml_and_trained_on_generated_frames_prompts_every_box(tmp_path, inputs):
    from napari_sam2_longvideo.engine.detection.detector import YoloDetector
    from napari_sam2_longvideo.engine.detection.training import train_detector, write_training_set
    from napari_sam2_longvideo.io.frames import open_frames

    training = crossing_ellipses(num_frames=30, seed=1)
    data = write_training_set(open_frames(training.frames), lambda t: training.truth[t], range(30), [1, 2],
                              tmp_path / "data", 128)
    weights = tmp_path / "yolo.pt"
    list(train_detector(data, weights, epochs=3, patience=3, size=128, device="cpu", base="yolo11n.yaml"))
    images, _ = inputs
    out = tmp_path / "out"
    assert main(["segment", str(images), "--detector", str(weights), "--detector-conf", "0.001", "--detector-imgsz",
                 "128", "--device", "cpu", "--backend", "contrast", "--out", str(out), "--quiet"]) == 0
    rows = read_objects(out)
    detector = YoloDetector(weights, confidence=0.001, image_size=128)
    expected = [len(detector.detect(image)) for image in open_frames(images)]
    assert [sum(int(r["frame"]) == t for r in rows) for t in range(FRAMES)] == expected and sum(expected) > 0
    assert {r["class_name"] for r in rows} == {"animal"}
    labels = tifffile.imread(out / "labels.tif")
    for t in range(FRAMES):  # labels 1..n on each frame, by confidence
        ours = [r for r in rows if int(r["frame"]) == t]
        assert [int(r["label"]) for r in ours] == list(range(1, len(ours) + 1))
        assert [float(r["confidence"]) for r in ours] == sorted((float(r["confidence"]) for r in ours), reverse=True)
        assert set(np.unique(labels[t])) <= set(range(len(ours) + 1))


def test_ctrl_c_stops_and_leaves_no_results(tmp_path, inputs, capsys, monkeypatch):
    from napari_sam2_longvideo.engine.backends.contrast.in_box import ContrastBoxSegmenter

    images, boxes = inputs
    segment_image = ContrastBoxSegmenter.masks_in_boxes
    calls = []

    def ctrl_c_on_the_third_image(self, image, boxes_):
        calls.append(image)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return segment_image(self, image, boxes_)

    monkeypatch.setattr(ContrastBoxSegmenter, "masks_in_boxes", ctrl_c_on_the_third_image)
    out = tmp_path / "out"
    assert main(["segment", str(images), "--detections", str(boxes), "--backend", "contrast", "--out", str(out),
                 "--quiet"]) == 130
    assert "Stopped; nothing was written" in capsys.readouterr().err
    assert not out.exists() and len(calls) == 3  # the folder the run made is gone, lock and all
