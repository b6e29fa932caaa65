"""Detections to animals: exact expectations for the global assignment."""

import itertools

import numpy as np
import pytest

from napari_sam2_longvideo.core.geometry import box_centre, box_iou, mask_box
from napari_sam2_longvideo.engine.detection.assignment import assign_detections

# Two animals side by side, as after a crossing: animal 4 on the left, animal 9 on the right.
LEFT = np.array([10.0, 40, 50, 60])
RIGHT = np.array([52.0, 40, 92, 60])
LAST = {4: LEFT, 9: RIGHT}


def shifted(box, dx):
    return box + np.array([dx, 0, dx, 0])


def centers_of(boxes):
    return {a: None if b is None else box_centre(b) for a, b in boxes.items()}


def assigned(last, detections, confidences=None, max_distance=60.0):
    confidences = np.ones(len(detections)) if confidences is None else np.asarray(confidences)
    matches = assign_detections(last, centers_of(last), np.array(detections), confidences, max_distance=max_distance)
    return {animal: match.detection for animal, match in matches.items()}


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_detections_in_any_order_go_to_the_same_animals(order):
    detections = [shifted(LEFT, 3), shifted(RIGHT, -2), np.array([150.0, 5, 170, 20])]
    confidences = [0.6, 0.95, 0.99]  # the most confident box is the stray one, far from both
    shuffled = [detections[i] for i in order]
    result = assigned(LAST, shuffled, [confidences[i] for i in order])
    assert {a: order[d] for a, d in result.items()} == {4: 0, 9: 1}


def test_a_missing_detection_leaves_that_animal_unmatched_instead_of_stealing_the_other():
    assert assigned(LAST, [shifted(RIGHT, 4)]) == {9: 0}
    assert assigned(LAST, [shifted(LEFT, -4)]) == {4: 0}


def test_an_extra_detection_creates_no_animal():
    result = assigned(LAST, [shifted(LEFT, 1), np.array([60.0, 0, 80, 10]), shifted(RIGHT, 1)])
    assert result == {4: 0, 9: 2}


def test_side_by_side_after_crossing_each_keeps_the_box_that_overlaps_it_most():
    # both detections overlap both animals a little; the global optimum keeps each on its own side
    detections = [shifted(RIGHT, -12), shifted(LEFT, 12)]
    assert assigned(LAST, detections) == {4: 1, 9: 0}


def test_a_lost_animal_takes_the_detection_near_where_it_was_last_seen():
    last = {4: None, 9: RIGHT}
    centers = {4: np.array([50.0, 30.0]), 9: None}  # (y, x) of LEFT's centre
    matches = assign_detections(
        last, centers, np.array([shifted(RIGHT, 2), shifted(LEFT, 5)]), np.array([0.9, 0.8]), max_distance=60
    )
    assert {a: m.detection for a, m in matches.items()} == {4: 1, 9: 0}
    assert np.isnan(matches[4].iou) and matches[9].iou > 0.8


def test_detections_beyond_the_gate_are_ignored():
    assert assigned(LAST, [shifted(LEFT, 200)], max_distance=60) == {}


def test_box_helpers():
    mask = np.zeros((10, 12), bool)
    mask[2:5, 3:9] = True
    np.testing.assert_array_equal(mask_box(mask), [3, 2, 9, 5])
    assert mask_box(np.zeros((3, 3), bool)) is None
    assert box_iou(np.array([0, 0, 2, 2]), np.array([[1, 0, 3, 2], [5, 5, 6, 6]])).tolist() == [[1 / 3, 0.0]]


def test_each_match_keeps_its_cost_and_the_margin_over_a_swap():
    far_apart = assign_detections(LAST, centers_of(LAST), np.array([shifted(LEFT, 3), shifted(RIGHT, -2)]),
                                  np.ones(2), max_distance=60.0)
    # the two boxes overlap each other a little: exchanging them would cost far more
    assert far_apart[4].cost < 0.3 and far_apart[4].margin > 1.0
    assert far_apart[4].margin == pytest.approx(far_apart[9].margin)
    # two animals on top of each other: either way costs about the same, a close call
    same = {4: LEFT, 9: shifted(LEFT, 2)}
    close = assign_detections(same, centers_of(same), np.array([shifted(LEFT, 1), shifted(LEFT, 1.5)]),
                              np.ones(2), max_distance=60.0)
    assert 0 <= close[4].margin < 0.1 and close[9].margin == pytest.approx(close[4].margin)
    # a spare detection is an alternative too
    one = assign_detections({4: LEFT}, centers_of({4: LEFT}), np.array([LEFT, shifted(LEFT, 1)]), np.ones(2),
                            max_distance=60.0)
    assert one[4].cost == pytest.approx(0.0) and 0 < one[4].margin < 0.1
    alone = assign_detections({4: LEFT}, centers_of({4: LEFT}), np.array([LEFT]), np.ones(1), max_distance=60.0)
    assert alone[4].margin == float("inf")
