"""SAM2's video predictor behind the backend protocol, with frames read lazily and outputs pruned.

SAM2's ``init_state`` loads every frame of a JPEG folder into one tensor. A session here builds the same
inference state by hand, with ``images`` replaced by `ModelFrames`, which reads and resizes a frame only
when SAM2 asks for it; SAM2 only ever indexes ``inference_state["images"][i]``. During propagation, the
per-frame outputs of frames more than ``prune_window`` behind are dropped, except the prompted
(conditioning) ones: SAM2 reads at most ``num_maskmem`` frames of memory and 16 object pointers back.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

import numpy as np
import torch

from ....io.source import FrameSource
from ....settings import TrackSettings
from ...devices import autocast_for
from ..base import FramePrediction
from .model import build_predictor

IMAGE_MEAN = (0.485, 0.456, 0.406)  # SAM2's load_video_frames defaults (ImageNet statistics)
IMAGE_STD = (0.229, 0.224, 0.225)


class ModelFrames:
    """Frames ``start..stop-1`` of a video as SAM2 wants them: ``(3, S, S)`` float32, normalised.

    Index 0 is frame ``start``. The last frame read is kept, since SAM2 asks for a frame again when a
    prompt is added to it.
    """

    def __init__(self, frames: FrameSource, start: int, stop: int, image_size: int):
        self.frames, self.start, self.stop, self.image_size = frames, start, stop, image_size
        self._mean = torch.tensor(IMAGE_MEAN, dtype=torch.float32)[:, None, None]
        self._std = torch.tensor(IMAGE_STD, dtype=torch.float32)[:, None, None]
        self._last: tuple[int, torch.Tensor] | None = None

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < len(self):
            raise IndexError(index)
        if self._last is not None and self._last[0] == index:
            return self._last[1]
        frame = np.require(self.frames.read(self.start + index), requirements=["W"])  # torch wants writable
        rgb = torch.from_numpy(frame).permute(2, 0, 1)
        # bilinear with antialiasing, as PIL's resize that SAM2's own loader uses
        resized = torch.nn.functional.interpolate(
            rgb[None].float(), size=(self.image_size, self.image_size), mode="bilinear",
            align_corners=False, antialias=True,
        )[0]
        image = (resized / 255.0 - self._mean) / self._std
        self._last = (index, image)
        return image


def lazy_inference_state(predictor, frames: FrameSource, start: int, stop: int, device) -> dict:
    """The dict ``SAM2VideoPredictor.init_state`` makes, over `ModelFrames` instead of a JPEG folder.

    Kept key for key with sam2 1.1.0's ``init_state``; a test compares the two so an upgrade of sam2
    that adds a key fails loudly instead of subtly.
    """
    state = {
        "images": ModelFrames(frames, start, stop, predictor.image_size),
        "num_frames": stop - start,
        "offload_video_to_cpu": False,
        "offload_state_to_cpu": False,
        "video_height": frames.height,
        "video_width": frames.width,
        "device": device,
        "storage_device": device,
        "point_inputs_per_obj": {},
        "mask_inputs_per_obj": {},
        "cached_features": {},
        "constants": {},
        "obj_id_to_idx": OrderedDict(),
        "obj_idx_to_id": OrderedDict(),
        "obj_ids": [],
        "output_dict_per_obj": {},
        "temp_output_dict_per_obj": {},
        "frames_tracked_per_obj": {},
    }
    return state


class SAM2Backend:
    """Sessions of SAM2's video predictor; the model is built once, on the first session."""

    name = "sam2"

    def __init__(self, settings: TrackSettings, download_progress=None):
        self.settings = settings
        self._download_progress = download_progress
        self._predictor = None
        self.device = None
        self.weights: dict = {}

    def load(self) -> None:
        """Build the model now (downloading weights if needed) rather than on the first session."""
        if self._predictor is None:
            self._predictor, self.device, self.weights = build_predictor(
                self.settings, progress=self._download_progress
            )

    def start_session(self, frames: FrameSource, start: int, stop: int) -> SAM2Session:
        self.load()
        return SAM2Session(self._predictor, frames, start, stop, self.device, self.settings.prune_window)

    def describe(self) -> dict:
        self.load()
        return {"backend": self.name, "device": str(self.device), **self.weights}

    def close(self) -> None:
        """Let go of the model (the GPU memory it holds is freed once nothing else refers to it)."""
        self._predictor = None


class SAM2Session:
    """One chunk's inference state; frame numbers are the video's, converted to the state's here."""

    def __init__(self, predictor, frames: FrameSource, start: int, stop: int, device, prune_window: int):
        self.predictor, self.start, self.stop = predictor, start, stop
        self.device, self.prune_window = device, prune_window
        self.state = lazy_inference_state(predictor, frames, start, stop, device)

    def _local(self, frame: int) -> int:
        if not self.start <= frame < self.stop:
            raise ValueError(f"frame {frame} is outside this session's frames {self.start}..{self.stop - 1}")
        return frame - self.start

    @torch.inference_mode()
    def add_points(self, frame, animal, points_yx, positive):
        xy = np.asarray(points_yx, np.float32)[:, ::-1].copy()  # SAM2 takes (x, y)
        with autocast_for(self.device):
            self.predictor.add_new_points_or_box(
                self.state, self._local(frame), int(animal), points=xy,
                labels=np.asarray(positive, np.int32),
            )

    @torch.inference_mode()
    def add_box(self, frame, animal, box_xyxy):
        with autocast_for(self.device):
            self.predictor.add_new_points_or_box(
                self.state, self._local(frame), int(animal), box=np.asarray(box_xyxy, np.float32)
            )

    @torch.inference_mode()
    def add_mask(self, frame, animal, mask):
        with autocast_for(self.device):
            self.predictor.add_new_mask(self.state, self._local(frame), int(animal), np.asarray(mask, bool))

    def propagate(self, from_frame: int, reverse: bool = False) -> Iterator[FramePrediction]:
        with torch.inference_mode(), autocast_for(self.device):
            if reverse:
                # the prompts' memory is made here (SAM2 would make it first thing in propagate_in_video,
                # finding nothing left to do then), so that it can be kept in full precision before use
                self.predictor.propagate_in_video_preflight(self.state)
                self._memory_in_full_precision()
            for local, obj_ids, video_res in self.predictor.propagate_in_video(
                self.state, start_frame_idx=self._local(from_frame), reverse=reverse
            ):
                if reverse:
                    self._memory_in_full_precision()
                scores = self._object_scores(local)
                logits = video_res[:, 0].float().cpu().numpy()
                self._prune(local, reverse)
                yield FramePrediction(self.start + local, tuple(obj_ids), logits, scores)

    def _memory_in_full_precision(self) -> None:
        """Without autocast (CPU, MPS), keep the memory bank in float32 while tracking backward.

        SAM2 stores every frame's memory features as bfloat16 to halve their size. Read back beside
        float32 object pointers they are promoted, but tracking backward from an animal's first prompt
        (one after the session's first frame) reads no pointer of an earlier prompted frame: then they
        reach a float32 layer as bfloat16 and PyTorch refuses ("mat1 and mat2 must have the same
        dtype"). Forward passes are left exactly as SAM2 runs them.
        """
        if self.device.type == "cuda":
            return
        for outputs in self.state["output_dict_per_obj"].values():
            for stored in (outputs["cond_frame_outputs"], outputs["non_cond_frame_outputs"]):
                for out in stored.values():
                    features = out.get("maskmem_features")
                    if features is not None and features.dtype == torch.bfloat16:
                        out["maskmem_features"] = features.float()

    def _object_scores(self, local: int) -> np.ndarray:
        """SAM2's own belief that each object is visible on the frame (sigmoid of its object score)."""
        scores = []
        for outputs in self.state["output_dict_per_obj"].values():
            out = outputs["cond_frame_outputs"].get(local) or outputs["non_cond_frame_outputs"].get(local)
            logit = out["object_score_logits"].float().flatten()[0] if out is not None else torch.tensor(-1e4)
            scores.append(torch.sigmoid(logit).item())
        return np.asarray(scores, np.float32)

    def _prune(self, local: int, reverse: bool) -> None:
        """Drop non-conditioning outputs more than ``prune_window`` frames behind the current one."""
        for obj_idx, outputs in self.state["output_dict_per_obj"].items():
            stale = [
                t for t in outputs["non_cond_frame_outputs"]
                if (t - local if reverse else local - t) > self.prune_window
            ]
            for t in stale:
                del outputs["non_cond_frame_outputs"][t]
                self.state["frames_tracked_per_obj"][obj_idx].pop(t, None)

    def stored_outputs(self) -> int:
        """How many per-frame outputs the state holds now (for tests of the pruning)."""
        return sum(
            len(o["cond_frame_outputs"]) + len(o["non_cond_frame_outputs"])
            for o in self.state["output_dict_per_obj"].values()
        )

    def close(self) -> None:
        self.state = None
