"""Doubtful episodes from per-frame records: which stretches, which animals, in which order."""

import math

import numpy as np

from napari_sam2_longvideo.core.records import TRACK_DTYPE
from napari_sam2_longvideo.engine.review import Episode, find_episodes


def records(num_frames, animals=(1, 2), **flags):
    """Records of a clean run, with ``flag=[(animal, frames), ...]`` set (``score=`` gives a score)."""
    rows = np.zeros(num_frames * len(animals), TRACK_DTYPE)
    rows["frame"] = np.repeat(np.arange(num_frames), len(animals))
    rows["animal"] = np.tile(animals, num_frames)
    rows["score"] = 1.0
    rows["area"] = 100
    for name, marks in flags.items():
        for animal, frames, *value in marks:
            where = (rows["animal"] == animal) & np.isin(rows["frame"], list(frames))
            rows[name][where] = value[0] if value else True
    return rows


def test_a_clean_run_has_no_episodes():
    assert find_episodes(records(50)) == []


def test_each_reason_becomes_episodes_of_consecutive_frames_ranked_worst_first():
    found = find_episodes(records(
        100,
        lost=[(2, range(10, 18))],  # 8 frames
        merged=[(1, range(30, 34)), (2, range(31, 35))],  # overlapping: one episode of both
        jumped=[(1, [60]), (2, [60])],  # both jump on one frame: a likely swap
        score=[(1, range(80, 82), 0.2)],
        reanchored=[(2, [90])],
    ))
    assert found == [
        Episode(30, 34, (1, 2), "merged", round(2.0 * 2 * (1 + math.log2(5)), 3)),  # 13.288
        Episode(10, 17, (2,), "lost", 2.5 * 1 * (1 + math.log2(8))),  # 10.0
        Episode(60, 60, (1, 2), "jumped", 3.0 * 2),
        Episode(80, 81, (1,), "low_score", 1.0 * (1 + math.log2(2))),
        Episode(90, 90, (2,), "reanchored", 1.0),
    ]


def test_flags_a_few_frames_apart_are_one_episode_and_farther_apart_two():
    found = find_episodes(records(100, lost=[(1, [10, 11, 14]), (1, [40])]))  # gap of 2 frames, then 25
    assert [(e.start, e.stop) for e in found] == [(10, 14), (40, 40)]
    assert [(e.start, e.stop) for e in find_episodes(records(100, lost=[(1, [10, 11, 14])]), gap=1)] == [
        (10, 11), (14, 14)]


def test_a_lost_animal_is_not_also_a_low_score_one_and_ties_go_to_the_earliest():
    found = find_episodes(records(30, lost=[(1, [20])], score=[(1, [20], 0.0), (2, [5], 0.1), (1, [3], 0.1)]))
    assert found == [Episode(20, 20, (1,), "lost", 2.5), Episode(3, 3, (1,), "low_score", 1.0),
                     Episode(5, 5, (2,), "low_score", 1.0)]
