"""SAM2 for real, with random weights at 256 px on the CPU: lazy frames, pruning, chunks, resume."""

import numpy as np
import pytest
import torch

from napari_sam2_longvideo.core.chunks import chunk_plan
from napari_sam2_longvideo.core.records import label_dtype
from napari_sam2_longvideo.engine.backends.sam2.checkpoints import model_spec
from napari_sam2_longvideo.engine.backends.sam2.model import (
    build_predictor,
    load_checkpoint,
)
from napari_sam2_longvideo.engine.backends.sam2.video_predictor import (
    SAM2Backend,
    lazy_inference_state,
)
from napari_sam2_longvideo.engine.events import ChunkDone
from napari_sam2_longvideo.engine.tracker import track
from napari_sam2_longvideo.errors import UserInputError
from napari_sam2_longvideo.io.frames import open_frames
from napari_sam2_longvideo.io.prompts import Prompts
from napari_sam2_longvideo.io.store import LabelStore
from napari_sam2_longvideo.settings import TrackSettings
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses

pytestmark = pytest.mark.slow
SETTINGS = TrackSettings(random_weights=True, image_size=256, device="cpu", chunk_size=12)


class CountingFrames:
    """Wraps a frame source and counts which frames were read."""

    def __init__(self, frames):
        self.inner = frames
        self.reads = []
        self.num_frames, self.height, self.width = frames.num_frames, frames.height, frames.width
        self.path = frames.path

    def __len__(self):
        return len(self.inner)

    def read(self, t):
        self.reads.append(t)
        return self.inner.read(t)


@pytest.fixture(scope="module")
def clip():
    return crossing_ellipses(num_frames=30, height=72, width=96)


@pytest.fixture(scope="module")
def backend():
    backend = SAM2Backend(SETTINGS)
    backend.load()
    return backend


def prompts_for(clip):
    return Prompts(clip.center_prompts(0), source="test")


def test_our_inference_state_has_exactly_the_keys_of_sam2s_init_state(tmp_path, backend, clip):
    from PIL import Image

    for i in range(3):
        Image.fromarray(clip.frames[i]).save(tmp_path / f"{i:05d}.jpg")
    reference = backend._predictor.init_state(str(tmp_path))
    ours = lazy_inference_state(backend._predictor, open_frames(clip.frames), 0, 3, torch.device("cpu"))
    assert set(ours) == set(reference)
    assert ours["images"][1].shape == reference["images"][1].shape == (3, 256, 256)
    assert ours["images"][1].dtype == reference["images"][1].dtype
    # the same normalisation as sam2's loader, up to JPEG compression and resampling differences
    assert float((ours["images"][1] - reference["images"][1]).abs().mean()) < 0.1


def test_frames_are_read_only_when_sam2_asks_for_them(backend, clip):
    frames = CountingFrames(open_frames(clip.frames))
    session = backend.start_session(frames, 10, 20)
    assert frames.reads == []
    session.add_points(12, 1, np.array([clip.centers[12, 0]]), np.array([True]))
    assert set(frames.reads) == {12}
    list(session.propagate(12))
    assert sorted(set(frames.reads)) == list(range(12, 20))
    session.close()


def test_outputs_behind_the_window_are_pruned_but_prompted_frames_are_kept(clip):
    frames = open_frames(clip.frames)
    counts = {}
    for window in (16, 1000):
        settings = TrackSettings(**{**SETTINGS.to_dict(), "prune_window": window})
        backend = SAM2Backend(settings)
        session = backend.start_session(frames, 0, 30)
        for animal, (y, x) in enumerate(clip.centers[0], start=1):
            session.add_points(0, animal, np.array([[y, x]]), np.array([True]))
        stored = []
        for prediction in session.propagate(0):
            stored.append(session.stored_outputs())
        cond = session.state["output_dict_per_obj"][0]["cond_frame_outputs"]
        assert 0 in cond  # the prompted frame survives every pruning
        counts[window] = max(stored)
    # 2 animals x (prompted frame + at most 16 frames behind the current one + the current one)
    assert counts[16] <= 2 * (1 + 16 + 1)
    assert counts[1000] == 2 * 30


def test_tracking_over_several_chunks_gives_labels_and_records_for_every_frame(tmp_path, backend, clip):
    prompts = prompts_for(clip)
    store = LabelStore.create(tmp_path / "s", clip.truth.shape, label_dtype([1, 2]), chunk_plan(30, 12))
    events = list(track(open_frames(clip.frames), prompts, backend, store))

    assert [e.chunk.index for e in events if isinstance(e, ChunkDone)] == [0, 1, 2]
    labels = store[:]
    assert labels.shape == (30, 72, 96) and labels.dtype == np.uint8
    assert set(np.unique(labels)) <= {0, 1, 2}
    records = store.records()
    assert len(records) == 60 and set(records["animal"]) == {1, 2}
    assert ((records["score"] >= 0) & (records["score"] <= 1)).all()


def test_an_animal_first_prompted_after_the_chunk_start_is_tracked_on_the_cpu(tmp_path, backend, clip):
    """Tracking back from a later prompt reads memory with no object pointer in it: SAM2's bfloat16
    memory features then met float32 weights on the CPU and the run failed."""
    first, later = clip.center_prompts(0)[0], clip.center_prompts(3)[1]
    store = LabelStore.create(tmp_path / "s", clip.truth.shape, label_dtype([1, 2]), chunk_plan(30, 12))
    list(track(open_frames(clip.frames), Prompts([first, later], source="test"), backend, store))
    records = store.records()
    assert len(records) == 60 and set(records["animal"]) == {1, 2}
    assert records[(records["animal"] == 2) & (records["frame"] == 3)]["prompted"].all()


def test_resuming_with_sam2_equals_an_uninterrupted_run(tmp_path, backend, clip):
    prompts = prompts_for(clip)
    frames = open_frames(clip.frames)

    def new_store(name):
        return LabelStore.create(tmp_path / name, clip.truth.shape, label_dtype([1, 2]), chunk_plan(30, 12))

    whole = new_store("whole")
    list(track(frames, prompts, backend, whole))
    parted = new_store("parted")
    events = track(frames, prompts, backend, parted)
    for event in events:
        if isinstance(event, ChunkDone):
            break
    events.close()
    resumed = LabelStore.open(tmp_path / "parted")
    assert resumed.done_chunks == [0]
    list(track(frames, prompts, SAM2Backend(SETTINGS), resumed))
    np.testing.assert_array_equal(resumed[:], whole[:])
    assert resumed.records().tobytes() == whole.records().tobytes()  # NaN-safe, bit for bit


def test_random_weights_are_reproducible_and_a_saved_checkpoint_loads_back(tmp_path):
    first, _, _ = build_predictor(SETTINGS)
    second, _, weights = build_predictor(SETTINGS)
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)
    assert weights["random_weights"] and weights["checkpoint"] is None

    path = tmp_path / "mine.pt"
    torch.save({"model": first.state_dict()}, path)
    settings = TrackSettings(**{**SETTINGS.to_dict(), "random_weights": False, "checkpoint": str(path), "seed": 5})
    loaded, _, weights = build_predictor(settings)
    for a, b in zip(first.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    assert weights["checkpoint"] == "mine.pt" and len(weights["checkpoint_sha256"]) == 64


def test_a_checkpoint_for_another_model_is_refused_with_a_clear_message(tmp_path, backend):
    model = backend._predictor
    weights = dict(model.state_dict())
    weights.pop(next(iter(weights)))
    weights["extra.layer.weight"] = torch.zeros(1)
    path = tmp_path / "other.pt"
    torch.save({"model": weights}, path)
    with pytest.raises(UserInputError, match=r"does not match the model tiny \(SAM 2.1\).*missing.*unexpected"):
        load_checkpoint(model, path, model_spec("tiny", "2.1"))

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(UserInputError, match="not a PyTorch checkpoint"):
        load_checkpoint(model, junk, model_spec("tiny", "2.1"))
