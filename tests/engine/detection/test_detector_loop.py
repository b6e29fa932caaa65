"""The detector in the loop, with the truth backend: lost animals come back under their own label."""

import numpy as np
import pytest

from napari_sam2_longvideo.core.chunks import Chunk, chunk_plan
from napari_sam2_longvideo.core.records import label_dtype
from napari_sam2_longvideo.engine.detection.detector import Detections
from napari_sam2_longvideo.engine.detection.schedule import FixedDetector
from napari_sam2_longvideo.engine.detection.seeding import seed_chunk
from napari_sam2_longvideo.engine.events import ChunkDone
from napari_sam2_longvideo.engine.tracker import track
from napari_sam2_longvideo.io.frames import open_frames
from napari_sam2_longvideo.io.store import LabelStore
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses
from napari_sam2_longvideo.testing.truth_backend import TruthBackend, TruthDetector
from tests.engine.test_tracker import expected_labels, user_prompts


@pytest.fixture(scope="module")
def clip():
    return crossing_ellipses(num_frames=40, height=64, width=96)


def run(tmp_path, clip, backend, detector, chunk_size=10):
    prompts = user_prompts(clip)
    store = LabelStore.create(tmp_path / "s", clip.truth.shape, label_dtype(prompts.animals), chunk_plan(40, chunk_size))
    events = list(track(open_frames(clip.frames), prompts, backend, store, FixedDetector(detector)))
    return store, events


def test_an_animal_sam2_forgets_is_found_by_the_detector_and_keeps_its_label(tmp_path, clip):
    # the backend forgets ellipse 1 (animal 7) from frame 23, after the crossing; nothing is carried
    # into chunk 30-39
    backend = TruthBackend(clip, forget={1: 23})
    detector = TruthDetector(clip, extra_box=(80, 0, 95, 8))  # plus a stray box, confidently reported
    store, events = run(tmp_path, clip, backend, detector)

    np.testing.assert_array_equal(store[:], expected_labels(clip, lost={1: range(23, 30)}))
    assert ("box", 30, 7) in backend.sessions[3].prompt_log
    records = store.records()
    at_30 = records[records["frame"] == 30]
    assert at_30["reanchored"].tolist() == [False, True]  # animals 3 and 7
    assert not np.isnan(at_30["detector_conf"]).any()
    assert set(records["frame"][~np.isnan(records["detector_conf"])].tolist()) == {10, 20, 30}
    # the detector runs at chunk starts only (and through a chunk only while an animal is lost)
    assert detector.frames_seen == [10, 20, 30]


def test_when_the_detector_misses_a_lost_animal_the_search_goes_on_and_frames_before_are_filled_backward(
    tmp_path, clip
):
    backend = TruthBackend(clip, forget={1: 23})
    detector = TruthDetector(clip, miss={1: (30, 34)})
    store, events = run(tmp_path, clip, backend, detector)

    assert detector.frames_seen == [10, 20, 30, 31, 32, 33, 34]
    assert ("box", 34, 7) in backend.sessions[3].prompt_log
    assert backend.sessions[3].propagations[0] == (34, True)
    np.testing.assert_array_equal(store[:], expected_labels(clip, lost={1: range(23, 30)}))
    chunk_events = [e for e in events if isinstance(e, ChunkDone)]
    assert chunk_events[3].undetected == {7: [30, 31, 32, 33]}
    records = store.records()
    assert records["reanchored"][(records["frame"] == 34) & (records["animal"] == 7)].all()


def test_a_mask_that_grew_over_both_animals_is_reanchored_with_its_box(clip):
    frames = open_frames(clip.frames)
    grown = (clip.truth[9] == 1) | (clip.truth[9] == 2)  # animal 7's mask swallowed animal 3 too
    carry = {7: grown, 3: clip.truth[9] == 2}
    seeds = seed_chunk(frames, Chunk(1, 10, 20), carry, {7: None, 3: None}, TruthDetector(clip))

    own_box = TruthDetector(clip).detect(clip.frames[10])
    assert set(seeds.masks) == {3}
    frame, box = seeds.boxes[7]
    assert frame == 10 and seeds.reanchored == {(10, 7)}
    truth_box = [b for b in own_box.boxes if (b == box).all()]
    assert len(truth_box) == 1
    assert box[0] < 50  # ellipse 1 starts on the left


def test_without_a_detector_every_carried_mask_is_kept_and_nothing_is_reanchored(clip):
    frames = open_frames(clip.frames)
    carry = {7: clip.truth[9] == 1, 3: np.zeros_like(clip.truth[9], bool)}
    seeds = seed_chunk(frames, Chunk(1, 10, 20), carry, {7: None, 3: None}, None)
    assert set(seeds.masks) == {7} and not seeds.boxes and not seeds.reanchored


class NothingDetector:
    def detect(self, image, frame=None):
        return Detections(np.zeros((0, 4)), np.zeros(0))


def test_a_detector_that_finds_nothing_changes_nothing(tmp_path, clip):
    store, events = run(tmp_path, clip, TruthBackend(clip), NothingDetector())
    np.testing.assert_array_equal(store[:], expected_labels(clip))
    assert not store.records()["reanchored"].any()


class BlurredAt(TruthDetector):
    """The truth detector, except that on one frame it sees both animals as one box, twice (as a detector
    does when they touch): either animal could be either box."""

    def __init__(self, clip, frame):
        super().__init__(clip)
        self.blurred = frame

    def detect(self, image, frame=None):
        from napari_sam2_longvideo.core.geometry import mask_box

        found = super().detect(image, frame)
        if self.frames_seen[-1] != self.blurred:
            return found
        both = mask_box(self.clip.truth[self.blurred] > 0)
        return Detections(np.array([both, both + 0.5]), np.array([0.9, 0.8]))


def test_the_assignment_at_each_chunk_start_is_kept_and_a_close_one_is_a_review_episode(tmp_path, clip):
    from napari_sam2_longvideo.engine.review import CLOSE_MARGIN, find_episodes

    store, _ = run(tmp_path, clip, TruthBackend(clip), BlurredAt(clip, 20))
    rows = store.assignments()
    assert sorted({(r["frame"], r["animal"]) for r in rows}) == [(f, a) for f in (10, 20, 30) for a in (3, 7)]
    margins = {(r["frame"], r["animal"]): r["margin"] for r in rows}
    assert margins[20, 3] < CLOSE_MARGIN and margins[20, 7] < CLOSE_MARGIN  # near a coin toss
    assert min(margins[10, 3], margins[30, 7]) > 1  # clear calls
    close = [e for e in find_episodes(store.records(), assignments=rows) if e.reason == "close_assignment"]
    assert [(e.start, e.stop, e.animals) for e in close] == [(20, 20, (3, 7))]
    # without a detector nothing is assigned, and no file is written
    plain, _ = run(tmp_path / "plain", clip, TruthBackend(clip), None)
    assert plain.assignments() == [] and not list((plain.folder / "store").glob("assignments_*"))
