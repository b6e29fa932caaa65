"""SAM2's image predictor for real, with random weights at 256 px on the CPU: shapes and batching."""

import numpy as np
import pytest

from napari_sam2_longvideo.engine.backends.sam2.image_predictor import SAM2BoxSegmenter
from napari_sam2_longvideo.settings import TrackSettings
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def segmenter():
    return SAM2BoxSegmenter(TrackSettings(random_weights=True, image_size=256, device="cpu"))


@pytest.fixture(scope="module")
def image():
    return crossing_ellipses(num_frames=1, height=72, width=96).frames[0]


BOXES = np.array([[5, 5, 40, 30], [50, 20, 90, 70], [0, 0, 96, 72]], float)


def test_one_mask_per_box_at_the_images_size(segmenter, image):
    for n in (1, 3):
        masks = segmenter.masks_in_boxes(image, BOXES[:n])
        assert masks.shape == (n, 72, 96) and masks.dtype == bool
    assert segmenter.masks_in_boxes(image, np.zeros((0, 4))).shape == (0, 72, 96)


def test_all_boxes_in_one_call_give_what_each_box_alone_gives(segmenter, image, monkeypatch):
    calls = []
    predict = segmenter.predictor.predict
    monkeypatch.setattr(segmenter.predictor, "predict", lambda **kw: calls.append(kw["box"].shape) or predict(**kw))
    batched = segmenter.masks_in_boxes(image, BOXES)
    assert calls == [(3, 4)]  # one call for the three boxes
    alone = np.stack([segmenter.masks_in_boxes(image, box[None])[0] for box in BOXES])
    assert (batched == alone).mean() > 0.999  # float rounding of batched convolutions may flip a pixel
    assert not (batched[0] == batched[1]).all()  # each box its own mask


def test_the_image_size_setting_reaches_the_model(image):
    small = SAM2BoxSegmenter(TrackSettings(random_weights=True, image_size=128, device="cpu"))
    assert small.predictor.model.image_size == 128
    assert small.masks_in_boxes(image, BOXES[:2]).shape == (2, 72, 96)
    assert small.describe()["image_size"] == 128 and small.describe()["random_weights"] is True
