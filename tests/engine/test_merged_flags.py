"""The ``merged`` flag comes from the masks, on prompted frames as on any other: one mask over two touching
animals (one far above its usual area while the other is lost or tiny) is flagged, however it was made."""

import numpy as np
import pytest

from napari_sam2_longvideo.core.records import TRACK_DTYPE, UsualAreas
from napari_sam2_longvideo.corrections import correct_run
from napari_sam2_longvideo.engine.events import ChunkDone
from napari_sam2_longvideo.io.prompts import Prompts
from napari_sam2_longvideo.io.store import LabelStore
from napari_sam2_longvideo.run import run_tracking
from napari_sam2_longvideo.settings import TrackSettings
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses
from napari_sam2_longvideo.testing.truth_backend import TruthBackend

FUSED = 23  # the ellipses touch (one blob) on frames 22 to 37; their masks overlap enough to be flagged from 25
SETTINGS = TrackSettings(chunk_size=20, device="cpu")


def frame(areas, lost=None):
    records = np.zeros(len(areas), TRACK_DTYPE)
    records["animal"] = np.arange(1, len(areas) + 1)
    records["area"] = areas
    records["lost"] = lost if lost is not None else [a == 0 for a in areas]
    return records


def usual(history=10, area=100, animals=2):
    areas = UsualAreas()
    for _ in range(history):
        areas.add(frame([area] * animals))
    return areas


@pytest.mark.parametrize("areas, merged", [
    ([200, 0], [True, True]),  # one mask holds both, the other animal lost
    ([170, 40], [True, True]),  # ... or left with a sliver
    ([0, 200], [True, True]),
    ([200, 100], [False, False]),  # one large alone: an animal stretched, or nearer the camera
    ([100, 0], [False, False]),  # one lost alone
    ([150, 40], [False, False]),  # below the large limit
    ([100, 100, 0, 250], [False, False, True, True]),  # only the pair that says it
])
def test_a_mask_far_above_its_usual_area_beside_a_lost_or_tiny_one_flags_both(areas, merged):
    records = frame(areas)
    usual(animals=len(areas)).flag_merged(records)
    assert records["merged"].tolist() == merged


def test_no_flag_before_the_usual_area_is_known_and_flags_already_set_stay():
    records = frame([300, 0])
    usual(history=9).flag_merged(records)
    assert not records["merged"].any()
    records = frame([100, 100])
    records["merged"] = [True, True]  # the backend's own (overlapping masks)
    usual().flag_merged(records)
    assert records["merged"].all()


def test_the_usual_area_is_the_median_of_the_last_frames_seen_and_the_same_when_read_back():
    areas = UsualAreas()
    history = []
    for t in range(150):
        records = frame([50 + t, 0 if t % 3 else 70])
        records["frame"] = t
        areas.add(records)
        history.append(records)
    assert areas.usual(1) == np.median(np.arange(50, 200)[-100:])
    assert areas.usual(2) == 70  # its lost frames do not count
    read_back = UsualAreas(np.concatenate(history))
    assert (read_back.usual(1), read_back.usual(2)) == (areas.usual(1), areas.usual(2))


@pytest.fixture(scope="module")
def clip():
    return crossing_ellipses(num_frames=60)


def click_on_the_touching_frame(clip):
    """Both animals clicked on frame 0, and animal 1 again on the touching frame, at its centre."""
    return Prompts(clip.center_prompts(0) + [clip.center_prompts(FUSED)[0]])


def test_a_prompt_on_a_frame_where_one_mask_covers_both_animals_keeps_the_merged_flag(tmp_path, clip):
    backend = TruthBackend(clip, fuse={FUSED: (1, 2), FUSED + 1: (1, 2)})
    list(run_tracking(clip.frames, click_on_the_touching_frame(clip), SETTINGS, tmp_path, backend=backend))
    records = LabelStore.open(tmp_path).records()
    at = records[records["frame"] == FUSED]
    assert at["prompted"].tolist() == [True, False] and at["lost"].tolist() == [False, True]
    assert at["area"][0] == np.count_nonzero(clip.truth[FUSED])  # animal 1's mask is both ellipses
    assert at["merged"].all()
    assert records[records["frame"] == FUSED + 1]["merged"].all()  # unprompted: the same rule
    # elsewhere the truth backend's masks are the ellipses themselves: nothing else before 25 is flagged
    # (the touching ellipses overlap by less than the overlap rule needs there)
    early = records[records["frame"] < 25]
    assert set(early["frame"][early["merged"]].tolist()) == {FUSED, FUSED + 1}


def test_a_resumed_run_flags_what_an_uninterrupted_run_flags(tmp_path, clip):
    backend = TruthBackend(clip, fuse={FUSED: (1, 2)})
    prompts = click_on_the_touching_frame(clip)
    list(run_tracking(clip.frames, prompts, SETTINGS, tmp_path / "whole", backend=backend))
    events = run_tracking(clip.frames, prompts, SETTINGS, tmp_path / "resumed", backend=backend)
    next(e for e in events if isinstance(e, ChunkDone))  # frames 0-19 saved; the touching frame is in the next
    events.close()
    list(run_tracking(clip.frames, prompts, SETTINGS, tmp_path / "resumed", backend=backend))
    whole, resumed = (LabelStore.open(tmp_path / name).records() for name in ("whole", "resumed"))
    assert whole[whole["frame"] == FUSED]["merged"].all()
    for name in whole.dtype.names:
        np.testing.assert_array_equal(resumed[name], whole[name], err_msg=name)


def test_a_correction_clicked_on_such_a_frame_keeps_the_flag(tmp_path, clip):
    """A correction starts from the clicked frame: the animals' usual areas come from the frames before."""
    list(run_tracking(clip.frames, Prompts(clip.center_prompts(0)), SETTINGS, tmp_path, backend=TruthBackend(clip)))
    fusing = TruthBackend(clip, fuse={FUSED: (1, 2)})
    list(correct_run(tmp_path, Prompts([clip.center_prompts(FUSED)[0]]), backend=fusing, source=clip.frames))
    records = LabelStore.open(tmp_path).records()
    at = records[records["frame"] == FUSED]
    assert at["lost"].tolist() == [False, True] and at["merged"].all()
