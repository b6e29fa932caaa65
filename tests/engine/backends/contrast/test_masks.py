"""Masks that cover the whole animal: hysteresis from the core, the local floor, still objects, sizes."""

import cv2
import numpy as np
import pytest

from napari_sam2_longvideo.engine.backends.contrast import sizes
from napari_sam2_longvideo.engine.backends.contrast.backend import SCORE_RESIZED
from napari_sam2_longvideo.engine.backends.contrast.blobs import find_blobs
from napari_sam2_longvideo.engine.backends.contrast.floor import MIN_THRESHOLD, FloorModel
from napari_sam2_longvideo.engine.backends.contrast.identities import AnimalTrack, load_handover, save_handover
from napari_sam2_longvideo.engine.backends.contrast.levels import learn_low_level
from napari_sam2_longvideo.engine.review import find_episodes
from napari_sam2_longvideo.settings import TrackSettings
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses, two_tone_animals

from .test_backend import iou, track_clip


def apart_frames(clip):
    near = [[cv2.dilate(m.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0 for m in masks] for masks in clip.full_masks]
    return [t for t, (a, b) in enumerate(near) if not (a & b).any()]


@pytest.mark.parametrize("dark_on_light", [True, False])
@pytest.mark.parametrize(("seed", "weak"), [(0, 0.3), (2, 0.25)])
def test_two_tone_animals_are_segmented_whole_on_an_unevenly_lit_floor_beside_still_pellets(
    tmp_path, dark_on_light, seed, weak
):
    clip = two_tone_animals(dark_on_light=dark_on_light, seed=seed, weak=weak)
    labels, records, backend = track_clip(tmp_path, clip)
    assert backend.dark is dark_on_light
    assert backend.model.low_threshold < backend.model.threshold  # learned from the prompted animals
    apart = apart_frames(clip)
    assert 20 <= len(apart) < 60  # they touch and overlap in the middle
    scores = [iou(labels[t] == k + 1, clip.truth[t] == k + 1) for t in apart for k in range(2)]
    assert np.mean(scores) >= 0.9, np.mean(scores)
    # the weak part is inside the right label
    weak_in = [np.mean(labels[t][clip.weak_masks[t, k]] == k + 1) for t in apart for k in range(2)]
    assert np.mean(weak_in) >= 0.9 and min(weak_in) >= 0.8, (np.mean(weak_in), min(weak_in))
    # no swap: on every frame apart each label lies on the animal it was prompted on
    for t in apart:
        for k in range(2):
            assert np.mean(clip.truth[t][labels[t] == k + 1] == k + 1) > 0.9, (t, k)
    # the pellets belong to the floor: no label on them except where an animal covers them
    assert not ((labels > 0) & (clip.truth == 0) & clip.still_objects).any()
    assert not records["lost"].any()


@pytest.mark.parametrize("dark_on_light", [True, False])
def test_with_a_single_threshold_the_weak_part_is_left_out(tmp_path, dark_on_light):
    """What the backend did before hysteresis (and does when both levels are the same): the checks above
    would fail."""
    clip = two_tone_animals(dark_on_light=dark_on_light)
    labels, _, backend = track_clip(tmp_path, clip, settings=TrackSettings(backend="contrast", low_threshold=250.0))
    assert backend.floor().low == backend.floor().threshold
    apart = apart_frames(clip)
    weak_in = [np.mean(labels[t][clip.weak_masks[t, k]] == k + 1) for t in apart for k in range(2)]
    assert np.mean(weak_in) < 0.1
    assert np.mean([iou(labels[t] == k + 1, clip.truth[t] == k + 1) for t in apart for k in range(2)]) < 0.7


def test_a_given_low_threshold_is_the_one_used(tmp_path):
    clip = two_tone_animals()
    _, _, backend = track_clip(tmp_path, clip, settings=TrackSettings(backend="contrast", low_threshold=30.0))
    assert backend.floor().low == 30.0 and backend.model.low_threshold is None  # nothing learned over it


def _frame_with(shape, floor, light, bodies):
    """A frame lit by ``light`` (H, W), floor reflectance ``floor``, and (mask, reflectance) bodies."""
    reflectance = np.full(shape, float(floor))
    for mask, value in bodies:
        reflectance[mask] = value
    return (light * reflectance).clip(0, 255).astype(np.uint8)


def _disc(shape, y, x, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - y) ** 2 + (xx - x) ** 2 <= r * r


@pytest.mark.parametrize("dark", [True, False])
def test_differences_are_measured_against_the_local_floor(dark):
    shape = (120, 320)
    light = np.linspace(1.0, 0.4, shape[1])[None, :] * np.ones(shape)  # a lamp on the left
    floor_level, animal = (200, 90) if dark else (50, 110)
    background = _frame_with(shape, floor_level, light, [])
    raw_middle = abs(animal - floor_level) * 0.7
    model = FloorModel(background, dark, threshold=0.8 * raw_middle)
    middle, right = _disc(shape, 60, 160, 12), _disc(shape, 60, 290, 12)
    frame = _frame_with(shape, floor_level, light, [(middle, animal), (right, animal)])
    contrast = model.contrast(frame)
    # the same animal stands out in the dim right as much as where the floor has its typical brightness
    assert abs(float(np.median(contrast[right])) - float(np.median(contrast[middle]))) < 0.1 * raw_middle
    blobs = find_blobs(frame, model, None, frame.size)
    assert len(blobs.areas) == 3 and abs(int(blobs.areas[2]) - int(right.sum())) < 0.15 * right.sum()
    # measured against the floor as it is, the animal in the dim right differs by less than the threshold
    raw = cv2.absdiff(frame, background)
    assert np.median(raw[right]) < model.threshold < np.median(raw[middle])


def test_the_low_level_is_below_a_weak_part_and_is_the_high_one_for_an_animal_of_one_tone():
    shape = (100, 160)
    rng = np.random.default_rng(1)
    contrast = rng.normal(4, 2, shape).clip(0, 255)
    core, weak = _disc(shape, 50, 60, 12), _disc(shape, 50, 84, 12) & ~_disc(shape, 50, 60, 12)
    two_tone = contrast.copy()
    two_tone[core], two_tone[weak] = 150, 40
    two_tone = two_tone.astype(np.uint8)
    level = learn_low_level(two_tone, [np.flatnonzero(core)], 80.0, None)
    assert MIN_THRESHOLD <= level < 40
    # one tone, fading into a halo (a shadow): the region only creeps outwards; no part to gain
    distance = np.hypot(*(np.mgrid[: shape[0], : shape[1]] - np.array([50, 60])[:, None, None]))
    halo = np.where(distance <= 12, 150, np.clip(80 - 4 * (distance - 12), 0, 80)) + contrast
    level = learn_low_level(halo.clip(0, 255).astype(np.uint8), [np.flatnonzero(distance <= 14)], 80.0, None)
    assert level == 80.0


def test_an_oversized_mask_is_trimmed_back_to_the_body_and_a_mask_that_doubles_is_flagged():
    shape = (100, 200)
    body = _disc(shape, 50, 60, 15)
    spill = np.zeros(shape, bool)
    spill[48:53, 70:140] = True  # a thin strip of floor joined to the body
    spill[20:80, 130:140] = True
    typical = float(body.sum())
    kept = sizes.trimmed(np.flatnonzero(body | spill), typical, shape)
    mask = np.zeros(shape, bool)
    mask.ravel()[kept] = True
    assert iou(mask, body) > 0.95
    untouched = np.flatnonzero(body | (spill & (np.arange(shape[1]) < 80)))  # within the allowance
    assert np.array_equal(sizes.trimmed(untouched, typical, shape), untouched)

    track = AnimalTrack(np.flatnonzero(body), shape)
    track.update(np.flatnonzero(_disc(shape, 50, 62, 15)))
    assert not track.resized
    track.update(np.flatnonzero(_disc(shape, 50, 64, 22)))  # more than twice the area
    assert track.resized and track.typical_area == pytest.approx(typical, rel=0.05)
    track.update(np.flatnonzero(_disc(shape, 50, 64, 15)))
    assert not track.resized


def test_the_median_area_is_handed_over_to_the_next_chunk(tmp_path):
    shape = (60, 80)
    track = AnimalTrack(np.flatnonzero(_disc(shape, 30, 30, 8)), shape)
    for r in (8, 9, 7, 8):
        track.update(np.flatnonzero(_disc(shape, 30, 30, r)))
    save_handover(tmp_path / "tracks.npz", {5: {1: track}})
    again = load_handover(tmp_path / "tracks.npz", shape)[5][1]
    assert np.array_equal(again.areas, track.areas) and again.typical_area == track.typical_area


def test_a_mask_that_suddenly_doubles_scores_low_and_is_listed_for_review(tmp_path):
    clip = crossing_ellipses(num_frames=30, height=120, width=240, spacing=0.5, seed=3)
    frames = clip.frames.copy()
    for t in (12, 13):  # a dark patch as large as the animal joins animal 1 for two frames
        y, x = clip.centers[t, 0].round().astype(int)
        frames[t, y - 12 : y + 12, x + 20 : x + 60] = 40
    clip.frames = frames
    _, records, _ = track_clip(tmp_path, clip, chunk_size=10)
    low = {(int(r["frame"]), int(r["animal"])) for r in records[records["score"] < 0.5]}
    assert low == {(12, 1), (13, 1)}
    assert np.allclose(records["score"][records["score"] < 0.5], SCORE_RESIZED)
    episodes = [e for e in find_episodes(records) if e.reason == "low_score"]
    assert [(e.start, e.stop, e.animals) for e in episodes] == [(12, 13, (1,))]
