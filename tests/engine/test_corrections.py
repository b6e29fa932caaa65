"""The correction engine on arrays: swapping, agreeing, the masks a re-track starts from, and the
tracker started mid-video from given masks."""

import numpy as np

from napari_sam2_longvideo.core.chunks import chunk_plan
from napari_sam2_longvideo.core.records import TRACK_DTYPE
from napari_sam2_longvideo.engine.corrections import agrees, starting_masks, swap_labels, swap_records
from napari_sam2_longvideo.engine.tracker import track_from
from napari_sam2_longvideo.io.frames import open_frames
from napari_sam2_longvideo.io.prompts import Prompts
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses
from napari_sam2_longvideo.testing.truth_backend import TruthBackend


def test_swap_labels_exchanges_two_values_only():
    labels = np.array([[0, 1, 2, 3]], np.uint8)
    assert swap_labels(labels, 1, 2).tolist() == [[0, 2, 1, 3]]
    assert labels.tolist() == [[0, 1, 2, 3]]


def run_records():
    """Animal 1 walks right along y=0, animal 2 along y=100 (areas 100: a length of 20 pixels)."""
    rows = np.zeros(20, TRACK_DTYPE)
    rows["frame"], rows["animal"], rows["area"] = np.repeat(np.arange(10), 2), np.tile([1, 2], 10), 100
    rows["centroid_y"] = np.tile([0.0, 100.0], 10)
    rows["centroid_x"] = np.repeat(np.arange(10.0), 2)
    rows["score"] = np.tile([0.9, 0.8], 10)
    return rows


def test_swap_records_moves_everything_but_frame_and_animal_and_reflags_jumps_at_both_ends():
    old = run_records()
    new = swap_records(old, 1, 2, 4, 6)
    inside = (new["frame"] >= 4) & (new["frame"] <= 6)
    assert new["frame"].tolist() == old["frame"].tolist() and new["animal"].tolist() == old["animal"].tolist()
    assert new["centroid_y"][inside].tolist() == [100.0, 0.0] * 3
    assert new["score"][inside].tolist() == [np.float32(0.8), np.float32(0.9)] * 3
    untouched = ~inside & (new["frame"] != 7)  # frame 7's jump flags change (below)
    assert new[untouched].tolist() == old[untouched].tolist()
    # each animal leaps 100 pixels (more than its 20-pixel length) on entering and leaving the swap
    assert new["frame"][new["jumped"]].tolist() == [4, 4, 7, 7]
    assert not old["jumped"].any()


def test_agrees_needs_every_animal_at_the_iou_and_counts_absent_from_both_as_agreeing():
    old = np.zeros((10, 10), np.uint8)
    old[:, :5] = 1
    new = old.copy()
    new[:, 4] = 0  # animal 1 loses a fifth of itself: IoU 0.8
    assert agrees(new, old, [1, 2], 0.8) and not agrees(new, old, [1, 2], 0.81)
    assert agrees(old, old, [1, 2, 3], 1.0)


def test_unclicked_animals_start_from_their_masks_unless_a_click_says_they_were_swapped():
    old = np.zeros((4, 8), np.uint8)
    old[:, :3], old[:, 5:] = 1, 2
    kept = starting_masks(old, Prompts([(7, 1.0, 1.0, 1, True)]), [1, 2])  # 1 clicked where 1 is
    assert list(kept) == [2] and np.array_equal(kept[2], old == 2)
    swapped = starting_masks(old, Prompts([(7, 1.0, 6.0, 1, True)]), [1, 2])  # 1 clicked where 2 is
    assert np.array_equal(swapped[2], old == 1)
    negative = starting_masks(old, Prompts([(7, 1.0, 1.0, 1, True), (7, 1.0, 6.0, 1, False)]), [1, 2])
    assert np.array_equal(negative[2], old == 2)  # a negative point says nothing of a swap


def test_track_from_starts_on_the_given_frame_from_masks_and_points_across_chunk_boundaries():
    clip = crossing_ellipses(num_frames=30, height=48, width=64)
    backend = TruthBackend(clip)
    y, x = clip.centers[13, 0]
    results = list(track_from(open_frames(clip.frames), Prompts([(13, y, x, 1, True)]), backend,
                              chunk_plan(30, 10), 13, {2: clip.truth[13] == 2}, np.uint8))
    assert [frame for frame, _, _ in results] == list(range(13, 30))
    assert all(np.array_equal(labels, clip.truth[frame]) for frame, labels, _ in results)
    assert [(s.start, s.stop) for s in backend.sessions] == [(13, 20), (19, 30)]  # then the carried frame
    assert backend.sessions[0].prompt_log == [("mask", 13, 2), ("points", 13, 1)]
    first = results[0][2]
    assert first["animal"].tolist() == [1, 2] and first["prompted"].tolist() == [True, False]
