import numpy as np

from napari_sam2_longvideo.core.chunks import Chunk, chunk_plan
from napari_sam2_longvideo.core.geometry import bounding_box
from napari_sam2_longvideo.core.records import label_dtype
from napari_sam2_longvideo.engine.backends.base import FramePrediction
from napari_sam2_longvideo.engine.overlaps import (
    frame_records,
    resolve_claims,
    resolve_overlaps,
)


def test_chunk_plan_covers_every_frame_once():
    plan = chunk_plan(61, 20)
    assert plan == [Chunk(0, 0, 20), Chunk(1, 20, 40), Chunk(2, 40, 60), Chunk(3, 60, 61)]
    assert chunk_plan(5, 100) == [Chunk(0, 0, 5)]


def test_each_pixel_goes_to_the_highest_logit_above_zero():
    logits = np.full((2, 3, 4), -1.0, np.float32)
    logits[0, :, :2] = 2.0  # animal 5 on the left half
    logits[1, :, 1:3] = 3.0  # animal 9 on the middle, stronger where both claim
    labels, merged = resolve_overlaps(logits, (5, 9), np.dtype(np.uint8))
    np.testing.assert_array_equal(labels, np.tile([5, 9, 9, 0], (3, 1)))
    # each mask is 6 pixels, they share 3: half the smaller one, so the two are merged
    assert merged.tolist() == [True, True]


def test_touching_animals_are_not_merged():
    logits = np.full((2, 10, 10), -1.0, np.float32)
    logits[0, :, :5] = 1.0
    logits[1, :, 4:] = 1.0  # one shared column of 10 pixels out of 50
    _, merged = resolve_overlaps(logits, (1, 2), np.dtype(np.uint8))
    assert merged.tolist() == [False, False]


def test_no_animals_gives_background():
    labels, merged = resolve_overlaps(np.zeros((0, 2, 2), np.float32), (), np.dtype(np.uint8))
    assert labels.shape == (2, 2) and not labels.any() and merged.shape == (0,)


def test_label_type_grows_with_the_largest_id():
    assert label_dtype([1, 2]) == np.uint8
    assert label_dtype([1, 300]) == np.uint16


def test_records_flag_lost_animals_and_leave_their_centroid_empty():
    labels = np.zeros((4, 4), np.uint8)
    labels[1:3, 2:4] = 2
    records = frame_records(7, labels, [1, 2], scores={2: 0.9}, merged={}, prompted={2})
    first, second = records
    assert first["lost"] and first["area"] == 0 and np.isnan(first["centroid_y"]) and first["score"] == 0
    assert second["area"] == 4 and second["centroid_y"] == 1.5 and second["centroid_x"] == 2.5
    assert second["prompted"] and not second["lost"] and second["frame"] == 7


def test_a_jump_longer_than_the_animal_is_flagged():
    from napari_sam2_longvideo.core.records import TRACK_DTYPE, flag_jumps

    before = np.zeros(2, TRACK_DTYPE)
    now = np.zeros(2, TRACK_DTYPE)
    before["area"] = now["area"] = 100  # about 20 pixels long
    before["centroid_y"], now["centroid_y"] = [10, 10], [25, 40]  # 15 and 30 pixels on
    flag_jumps(now, before)
    assert now["jumped"].tolist() == [False, True]
    now["lost"][1] = True
    flag_jumps(now, before)
    assert now["jumped"].tolist() == [False, False]


def test_bounds_change_nothing_but_where_the_frame_is_looked_at():
    """Labels, merged flags and records are the same with each animal's bounds as without them."""
    rng = np.random.default_rng(7)
    height, width = 40, 60
    for trial in range(20):
        n = int(rng.integers(1, 4))
        ids = tuple(int(i) for i in rng.choice(np.arange(1, 300), n, replace=False))
        logits = np.full((n, height, width), -1.0, np.float32)
        bounds = []
        for i in range(n):
            x0, y0 = int(rng.integers(-5, width - 5)), int(rng.integers(-5, height - 5))
            x1, y1 = x0 + int(rng.integers(0, 30)), y0 + int(rng.integers(0, 30))  # some empty, some past the edge
            inside = logits[i, max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)]
            inside[...] = rng.choice([-1.0, 1.0, 2.0, 3.0], size=inside.shape)
            bounds.append((x0, y0, x1, y1))
        dtype = label_dtype(ids)
        labels, merged = resolve_overlaps(logits, ids, dtype)
        bounded, bounded_merged = resolve_overlaps(logits, ids, dtype, np.array(bounds))
        np.testing.assert_array_equal(bounded, labels)
        assert bounded_merged.tolist() == merged.tolist()
        common = dict(scores=dict.fromkeys(ids, 1.0), merged={}, prompted=set())
        whole = frame_records(trial, labels, ids, **common)
        boxed = frame_records(trial, labels, ids, bounds=dict(zip(ids, np.array(bounds))), **common)
        assert whole.tobytes() == boxed.tobytes()  # NaN-safe, bit for bit


def test_claimed_pixels_resolve_exactly_as_the_same_logits_given_whole():
    """Overlapping claims, several per animal, ties between animals and within one, empty claims."""
    rng = np.random.default_rng(3)
    shape = (20, 30)
    for _ in range(40):
        animals = tuple(int(a) for a in rng.choice(np.arange(1, 9), size=int(rng.integers(1, 5)), replace=False))
        claims = []
        for _ in animals:
            pairs = []
            for _ in range(int(rng.integers(0, 4))):
                y, x = rng.integers(0, shape[0] - 4), rng.integers(0, shape[1] - 4)
                box = np.zeros(shape, bool)
                box[y : y + rng.integers(1, 12), x : x + rng.integers(1, 16)] = True
                pairs.append((np.flatnonzero(box), float(rng.choice([1.0, 2.0, 3.0]))))
            claims.append(tuple(pairs))
        prediction = FramePrediction(0, animals, None, np.ones(len(animals)), claims=tuple(claims))
        dense = prediction.dense_logits(*shape)
        expected_labels, expected_merged = resolve_overlaps(dense, animals, np.uint8)
        labels, merged = resolve_claims(prediction.claims, animals, np.uint8, shape)
        np.testing.assert_array_equal(labels, expected_labels)
        np.testing.assert_array_equal(merged, expected_merged)
        bounds = np.array([bounding_box([pixels for pixels, _ in pairs], shape[1]) for pairs in claims])
        np.testing.assert_array_equal(resolve_claims(prediction.claims, animals, np.uint8, shape, bounds)[1], merged)


def test_records_of_an_animal_within_a_box_of_a_few_pixels():
    from napari_sam2_longvideo.engine.overlaps import frame_records

    labels = np.zeros((20, 30), np.uint8)
    labels[5, 7:9] = 1  # two pixels, in bounds of 1 x 3: OpenCV would take the crop for a scalar
    records = frame_records(0, labels, [1], scores={1: 1.0}, merged={}, prompted=set(),
                            bounds={1: np.array([7, 5, 10, 6])})
    assert records["area"][0] == 2 and records["centroid_y"][0] == 5 and records["centroid_x"][0] == 7.5
