"""Segmenting images from boxes: labels by confidence, overlaps to the more confident box, the contrast
foreground inside a box."""

import numpy as np
import pytest

from napari_sam2_longvideo.engine.backends.contrast.in_box import ContrastBoxSegmenter, foreground_in_box
from napari_sam2_longvideo.engine.detection.box_file import BoxFileDetector
from napari_sam2_longvideo.engine.detection.detector import Detections
from napari_sam2_longvideo.engine.detection.segment_images import paint_objects, segment_frames
from napari_sam2_longvideo.io.detections import BoxTable
from napari_sam2_longvideo.io.frames import open_frames
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses


def iou(a, b):
    return np.logical_and(a, b).sum() / np.logical_or(a, b).sum()


def test_objects_are_labelled_by_confidence_and_the_more_confident_keeps_shared_pixels():
    masks = np.zeros((3, 10, 10), bool)
    masks[0, 0:5, 0:5] = True  # least confident, overlaps the most confident
    masks[1, 3:8, 3:8] = True  # most confident
    masks[2, 8:10, 8:10] = True
    found = Detections(np.array([[0, 0, 5, 5], [3, 3, 8, 8], [8, 8, 10, 10]], float),
                       np.array([0.3, 0.9, 0.6]), np.array([2, 0, 1]))
    labels, objects = paint_objects(7, masks, found, (10, 10))
    assert [(o.label, o.class_id, o.confidence) for o in objects] == [(1, 0, 0.9), (2, 1, 0.6), (3, 2, 0.3)]
    assert (labels[3:8, 3:8] == 1).all() and (labels[8:, 8:] == 2).all()
    assert labels[4, 4] == 1 and labels[0, 0] == 3
    assert [o.area for o in objects] == [25, 4, 25 - 4] and all(o.frame == 7 for o in objects)
    assert objects[2].box.tolist() == [0, 0, 5, 5]


@pytest.mark.parametrize("dark_on_light", [True, False])
def test_the_contrast_foreground_in_a_box_is_the_animal(dark_on_light):
    clip = crossing_ellipses(num_frames=1, dark_on_light=dark_on_light)
    grey = clip.frames[0, ..., 0]
    for animal in (1, 2):
        truth = clip.truth[0] == animal
        ys, xs = np.nonzero(truth)
        box = (xs.min() - 3, ys.min() - 3, xs.max() + 4, ys.max() + 4)  # a detector's box is a little loose
        assert iou(foreground_in_box(grey, box), truth) > 0.9


def test_a_box_with_nothing_in_it_or_outside_the_image_gives_an_empty_mask():
    grey = np.full((40, 50), 200, np.uint8)
    assert not foreground_in_box(grey, (5, 5, 30, 30)).any()
    assert not foreground_in_box(grey, (60, 5, 80, 30)).any()


def test_segment_frames_gives_every_box_an_object_on_its_frame():
    clip = crossing_ellipses(num_frames=4)
    rows = []
    for t in range(4):
        for animal in (1, 2):
            ys, xs = np.nonzero(clip.truth[t] == animal)
            rows.append((t, xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, 0.5 + 0.1 * animal))
    frames_of, *box, conf = zip(*rows)
    table = BoxTable(np.array(frames_of), np.array(box, float).T, np.array(conf), np.zeros(len(rows), int),
                     {0: "mouse"}, "test")
    results = list(segment_frames(open_frames(clip.frames), BoxFileDetector(table), ContrastBoxSegmenter()))
    assert [r.frame for r in results] == [0, 1, 2, 3] and all(r.num_frames == 4 for r in results)
    for r in results:
        assert [o.label for o in r.objects] == [1, 2]
        # label 1 is the more confident box: animal 2's
        assert iou(r.labels == 1, clip.truth[r.frame] == 2) > 0.9
        assert iou(r.labels == 2, clip.truth[r.frame] == 1) > 0.8
