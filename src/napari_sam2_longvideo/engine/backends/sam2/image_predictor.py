"""SAM2's image predictor: one mask per box, all the boxes of an image in one batched call.

``segment`` prompts it with a detector's boxes, image by image. The model is built as the video
predictor's (`model.size_overrides`, the same checkpoints and random weights), but as SAM2's plain
image model (``build_sam2``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ....settings import TrackSettings
from ...devices import autocast_for, pick_device
from .checkpoints import model_spec, resolve_checkpoint
from .model import load_checkpoint, size_overrides, weights_record


def build_image_predictor(settings: TrackSettings, progress=None):
    """Return ``(SAM2ImagePredictor, device, weights)``, ``weights`` as `model.weights_record` gives it."""
    from sam2.build_sam import build_sam2
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    spec = model_spec(settings.model, settings.sam_version)
    device = pick_device(settings.device)
    checkpoint = None if settings.random_weights else resolve_checkpoint(spec, settings.checkpoint, progress=progress)
    torch.manual_seed(settings.seed)
    model = build_sam2(spec.config, ckpt_path=None, device="cpu", hydra_overrides_extra=size_overrides(settings.image_size))
    if checkpoint is not None:
        load_checkpoint(model, Path(checkpoint), spec)
    predictor = SAM2ImagePredictor(model.to(device).eval())
    # SAM2ImagePredictor assumes the 1024 px model's feature maps (256, 128, 64 a side); at another
    # image size its backbone gives maps of size/4, size/8 and size/16
    side = settings.image_size
    predictor._bb_feat_sizes = [(side // 4, side // 4), (side // 8, side // 8), (side // 16, side // 16)]
    return predictor, device, weights_record(spec, checkpoint, settings)


class SAM2BoxSegmenter:
    """Masks for boxes on RGB images with SAM2's image predictor.

    Parameters
    ----------
    settings : TrackSettings
        ``model``, ``sam_version``, ``checkpoint`` or ``random_weights``, ``image_size``, ``device``.
    download_progress : callable, optional
        ``(bytes_done, bytes_total)`` while the official weights download.
    """

    def __init__(self, settings: TrackSettings, download_progress=None):
        self.predictor, self.device, self.weights = build_image_predictor(settings, download_progress)
        self.image_size = settings.image_size

    def masks_in_boxes(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """``(N, H, W)`` bool, one mask per box ``(x0, y0, x1, y1)`` of ``image`` (H, W, 3) RGB uint8."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        height, width = image.shape[:2]
        if not len(boxes):
            return np.zeros((0, height, width), bool)
        with torch.inference_mode(), autocast_for(self.device):
            self.predictor.set_image(np.require(image, requirements=["C", "W"]))  # torch wants writable
            masks, _scores, _ = self.predictor.predict(box=boxes, multimask_output=False)
        self.predictor.reset_predictor()  # the image's features leave memory with the image
        # one box gives (1, H, W), several (N, 1, H, W): SAM2 drops the batch axis of one
        return np.asarray(masks).reshape(len(boxes), height, width) > 0

    def describe(self) -> dict:
        return {"name": "sam2", "predictor": "SAM2ImagePredictor", "image_size": self.image_size,
                "device": str(self.device), **self.weights}

    def close(self) -> None:
        self.predictor = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
