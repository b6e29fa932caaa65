"""The tracker on generated clips with a backend that follows the truth: exact labels and identities."""

import numpy as np
import pytest

from napari_sam2_longvideo.core.chunks import chunk_plan
from napari_sam2_longvideo.core.records import label_dtype
from napari_sam2_longvideo.engine.events import (
    ChunkDone,
    FrameTracked,
    RunFinished,
    RunStarted,
)
from napari_sam2_longvideo.engine.tracker import track
from napari_sam2_longvideo.io.frames import open_frames
from napari_sam2_longvideo.io.prompts import Prompts
from napari_sam2_longvideo.io.store import LabelStore
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses
from napari_sam2_longvideo.testing.truth_backend import TruthBackend

# Animal ids the user chose, deliberately not 1 and 2 and not in the ellipses' order, so a tracker that
# confuses ids with positions or backend order fails.
IDS = {1: 7, 2: 3}


@pytest.fixture(scope="module")
def clip():
    return crossing_ellipses(num_frames=40, height=64, width=96)


def user_prompts(clip, frames_of=None):
    """One centre point per ellipse; ``frames_of`` maps ellipse -> frame of its prompt (default 0)."""
    frames_of = frames_of or {}
    rows = []
    for ellipse, animal in IDS.items():
        frame = frames_of.get(ellipse, 0)
        y, x = clip.centers[frame, ellipse - 1]
        rows.append((frame, y, x, animal, True))
    return Prompts(rows, source="test prompts")


def expected_labels(clip, lost=None):
    """The truth with ellipse numbers replaced by the animals' ids.

    ``lost`` maps an ellipse to the frames where the backend loses it: its pixels become background,
    except where another ellipse it was hiding lies underneath.
    """
    expected = np.zeros_like(clip.truth)
    for ellipse, animal in IDS.items():
        expected[clip.truth == ellipse] = animal
    for ellipse, frames in (lost or {}).items():
        for t in frames:
            uncovered = clip.truth[t] == ellipse
            expected[t][uncovered] = 0
            for other, animal in IDS.items():
                if other != ellipse:
                    expected[t][uncovered & clip.full_masks[t, other - 1]] = animal
    return expected


def new_store(tmp_path, clip, prompts, chunk_size, name="store"):
    shape = clip.truth.shape
    return LabelStore.create(tmp_path / name, shape, label_dtype(prompts.animals), chunk_plan(shape[0], chunk_size))


def run_all(frames, prompts, backend, store):
    return list(track(frames, prompts, backend, store))


@pytest.mark.parametrize("chunk_size", [5, 7, 13, 40])
def test_labels_and_identities_hold_across_chunks_through_a_crossing(tmp_path, clip, chunk_size):
    prompts = user_prompts(clip)
    store = new_store(tmp_path, clip, prompts, chunk_size)
    run_all(open_frames(clip.frames), prompts, TruthBackend(clip), store)

    assert store.complete
    np.testing.assert_array_equal(store[:], expected_labels(clip))
    # the ellipses really do overlap in this clip, so the identities were at stake
    overlap = np.logical_and(clip.full_masks[:, 0], clip.full_masks[:, 1]).sum(axis=(1, 2))
    assert (overlap > 0).sum() >= 3 and overlap[0] == 0 and overlap[-1] == 0


def test_each_chunk_is_prompted_with_the_carried_masks_on_the_previous_chunks_last_frame(tmp_path, clip):
    prompts = user_prompts(clip)
    backend = TruthBackend(clip)
    run_all(open_frames(clip.frames), prompts, backend, new_store(tmp_path, clip, prompts, 10))

    assert [(s.start, s.stop) for s in backend.sessions] == [(0, 10), (9, 20), (19, 30), (29, 40)]
    assert sorted(backend.sessions[0].prompt_log) == [("points", 0, 3), ("points", 0, 7)]
    for session in backend.sessions[1:]:
        assert sorted(session.prompt_log) == [("mask", session.start, 3), ("mask", session.start, 7)]
        assert session.propagations == [(session.start, False)]


def test_records_give_area_centroid_and_flags_from_the_labels(tmp_path, clip):
    prompts = user_prompts(clip)
    store = new_store(tmp_path, clip, prompts, 8)
    run_all(open_frames(clip.frames), prompts, TruthBackend(clip), store)
    records = store.records()

    assert len(records) == 40 * 2
    assert list(records["frame"][:4]) == [0, 0, 1, 1]
    for row in records:
        mask = clip.truth[row["frame"]] == {7: 1, 3: 2}[row["animal"]]
        ys, xs = np.nonzero(mask)
        assert row["area"] == mask.sum()
        assert row["centroid_y"] == pytest.approx(ys.mean())
        assert row["centroid_x"] == pytest.approx(xs.mean())
        assert not row["lost"] and row["score"] == 1.0
    overlap = np.logical_and(clip.full_masks[:, 0], clip.full_masks[:, 1]).sum(axis=(1, 2))
    smaller = np.minimum(clip.full_masks[:, 0].sum(axis=(1, 2)), clip.full_masks[:, 1].sum(axis=(1, 2)))
    merged_frames = set(records["frame"][records["merged"]].tolist())
    assert merged_frames == set(np.nonzero(overlap > 0.2 * smaller)[0].tolist())
    assert set(records["frame"][records["prompted"]].tolist()) == {0}


def test_an_animal_prompted_late_is_filled_backward_within_its_chunk(tmp_path, clip):
    prompts = user_prompts(clip, frames_of={2: 14})  # animal 3 (ellipse 2) first clicked on frame 14
    backend = TruthBackend(clip)
    store = new_store(tmp_path, clip, prompts, 10)
    run_all(open_frames(clip.frames), prompts, backend, store)

    expected = expected_labels(clip, lost={2: range(0, 10)})
    np.testing.assert_array_equal(store[:], expected)
    assert backend.sessions[1].propagations == [(14, True), (9, False)]
    records = store.records()
    lost_frames = records["frame"][(records["animal"] == 3) & records["lost"]]
    assert lost_frames.tolist() == list(range(10))


def test_a_correction_later_in_the_video_recovers_a_lost_animal_under_its_own_label(tmp_path, clip):
    # the backend loses ellipse 1 on frames 8-11; nothing carries it into chunk 10-19 ...
    backend = TruthBackend(clip, lose={1: (8, 12)})
    prompts = Prompts(user_prompts(clip).rows() + [(14, *clip.centers[14, 0], 7, True)], source="test")
    store = new_store(tmp_path, clip, prompts, 10)
    events = run_all(open_frames(clip.frames), prompts, backend, store)

    # ... until the user's click on frame 14, used by the chunk that holds frame 14
    assert ("points", 14, 7) in backend.sessions[1].prompt_log
    np.testing.assert_array_equal(store[:], expected_labels(clip, lost={1: range(8, 12)}))
    chunk_events = [e for e in events if isinstance(e, ChunkDone)]
    assert chunk_events[0].lost_animals == (7,)
    assert chunk_events[1].lost_animals == ()


def test_an_animal_lost_for_good_stays_lost_and_keeps_its_label_free(tmp_path, clip):
    backend = TruthBackend(clip, lose={2: (12, 40)})
    prompts = user_prompts(clip)
    store = new_store(tmp_path, clip, prompts, 10)
    run_all(open_frames(clip.frames), prompts, backend, store)

    labels = store[:]
    assert not (labels[12:] == 3).any()
    np.testing.assert_array_equal(labels, expected_labels(clip, lost={2: range(12, 40)}))
    # from chunk 20-29 on, animal 3 is not even in the session: there is nothing to carry
    assert all(animal != 3 for _, _, animal in backend.sessions[2].prompt_log)


def test_events_report_progress_per_frame_and_per_chunk(tmp_path, clip):
    prompts = user_prompts(clip)
    events = run_all(open_frames(clip.frames), prompts, TruthBackend(clip), new_store(tmp_path, clip, prompts, 16))

    assert isinstance(events[0], RunStarted) and events[0].num_chunks == 3
    assert isinstance(events[-1], RunFinished) and events[-1].tracked_frames == 40
    frames_done = [e.frames_done for e in events if isinstance(e, FrameTracked)]
    assert frames_done == list(range(1, 41))
    assert [e.frames_done for e in events if isinstance(e, ChunkDone)] == [16, 32, 40]


def test_stopping_keeps_finished_chunks_and_resuming_equals_an_uninterrupted_run(tmp_path, clip):
    prompts = user_prompts(clip)
    frames = open_frames(clip.frames)
    whole = new_store(tmp_path, clip, prompts, 10, name="whole")
    run_all(frames, prompts, TruthBackend(clip), whole)

    parted = new_store(tmp_path, clip, prompts, 10, name="parted")
    events = track(frames, prompts, TruthBackend(clip), parted)
    chunks_seen = 0
    for event in events:
        if isinstance(event, FrameTracked) and chunks_seen == 2:
            break  # the consumer walks away in the middle of the third chunk
        chunks_seen += isinstance(event, ChunkDone)
    events.close()
    reopened = LabelStore.open(tmp_path / "parted")
    assert reopened.done_chunks == [0, 1]

    backend = TruthBackend(clip)
    resumed = run_all(frames, prompts, backend, reopened)
    assert resumed[0].frames_done == 20
    assert [s.start for s in backend.sessions] == [19, 29]
    np.testing.assert_array_equal(reopened[:], whole[:])
    assert reopened.records().tobytes() == whole.records().tobytes()  # NaN-safe, bit for bit


def test_blank_frames_at_the_end_of_a_chunk_do_not_lose_the_animals(tmp_path, clip):
    """Both ellipses vanish on frames 8 and 9 (a black frame, say): chunk 10-19 starts from frame 7."""
    backend = TruthBackend(clip, lose={1: (8, 10), 2: (8, 10)})
    prompts = user_prompts(clip)
    store = new_store(tmp_path, clip, prompts, 10)
    run_all(open_frames(clip.frames), prompts, backend, store)
    expected = expected_labels(clip)
    expected[8:10] = 0
    np.testing.assert_array_equal(store[:], expected)
    assert sorted(backend.sessions[1].prompt_log) == [("mask", 7, 3), ("mask", 7, 7)]
    assert (backend.sessions[1].start, backend.sessions[1].stop) == (7, 20)
