"""Building SAM2's video predictor from the settings: device, image size, weights."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import torch

from ....errors import UserInputError
from ....settings import TrackSettings
from ...devices import pick_device
from .checkpoints import ModelSpec, model_spec, resolve_checkpoint, sha256_of

# sam2 warns, on the first frame of every run, that its optional CUDA kernel (sam2._C, which fills
# small holes in masks) is missing, and goes on without it: pip-installed sam2 never has it, the results
# are SAM2's own without it (tests compare them), and the warning would land in every progress bar.
# Only that message is silenced; sam2's other warnings still show.
warnings.filterwarnings("ignore", message=r"(?s).*\b_C\b.*Skipping the post-processing step", category=UserWarning)


def build_predictor(settings: TrackSettings, progress=None):
    """Return ``(predictor, device, weights)``; ``weights`` describes the checkpoint for ``run.json``.

    With ``random_weights`` the model is initialised from a fixed seed and no file is read: the masks
    are meaningless, but every code path runs and results are reproducible (for tests and benchmarks).
    """
    from sam2.build_sam import build_sam2_video_predictor

    spec = model_spec(settings.model, settings.sam_version)
    device = pick_device(settings.device)
    checkpoint = None
    if not settings.random_weights:
        checkpoint = resolve_checkpoint(spec, settings.checkpoint, progress=progress)
    torch.manual_seed(settings.seed)
    # build on the CPU and move afterwards, so a checkpoint that fails to load never touches the GPU
    predictor = build_sam2_video_predictor(
        spec.config, ckpt_path=None, device="cpu", hydra_overrides_extra=size_overrides(settings.image_size)
    )
    if checkpoint is not None:
        load_checkpoint(predictor, Path(checkpoint), spec)
    predictor = predictor.to(device).eval()
    return predictor, device, weights_record(spec, checkpoint, settings)


def size_overrides(image_size: int) -> list[str]:
    """SAM2's config at another image size: the backbone's feature map sizes SAM2's RoPE tables."""
    side = image_size // 16
    return [
        f"++model.image_size={image_size}",
        f"++model.memory_attention.layer.self_attention.feat_sizes=[{side},{side}]",
        f"++model.memory_attention.layer.cross_attention.feat_sizes=[{side},{side}]",
    ]


def weights_record(spec: ModelSpec, checkpoint, settings: TrackSettings) -> dict:
    """What ``run.json`` says of the weights a model was built with."""
    return {
        "model": spec.name,
        "sam_version": spec.version,
        "config": spec.config,
        "checkpoint": Path(checkpoint).name if checkpoint else None,
        "checkpoint_sha256": sha256_of(checkpoint) if checkpoint else None,
        "random_weights": settings.random_weights,
        "seed": settings.seed if settings.random_weights else None,
    }


def load_checkpoint(model: torch.nn.Module, path: Path, spec: ModelSpec) -> None:
    """Load SAM2's ``{"model": state_dict}`` file, refusing one made for another model."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch's unpickler fails with many types on junk files
        # torch's own text advises loading with weights_only=False, which would run whatever code the file
        # holds: not advice to pass on about a file we cannot vouch for, so the message is ours alone
        raise UserInputError(
            f"Checkpoint {path} is not a PyTorch checkpoint SAM2 can read: {_why_unreadable(error)}. "
            f"Download {spec.filename} again or pass the right file with --checkpoint."
        ) from None
    weights = state.get("model") if isinstance(state, dict) else None
    if not isinstance(weights, dict):
        raise UserInputError(
            f"Checkpoint {path} has no 'model' weights, so it is not a SAM2 checkpoint. "
            f"Use {spec.filename} from Meta with --model {spec.name}."
        )
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        missing, unexpected = _key_mismatch(model, weights)
        detail = "; ".join(
            part
            for part in (
                f"{len(missing)} weights missing (e.g. {missing[0]})" if missing else "",
                f"{len(unexpected)} unexpected (e.g. {unexpected[0]})" if unexpected else "",
                "tensor shapes differ" if not (missing or unexpected) else "",
            )
            if part
        )
        raise UserInputError(
            f"Checkpoint {path} does not match the model {spec.name} (SAM {spec.version}): {detail}. "
            f"Pass the --model and --sam-version this checkpoint was made for, or use {spec.filename}."
        ) from error


def _why_unreadable(error: Exception) -> str:
    """What was wrong with a file ``torch.load(weights_only=True)`` refused, in our words."""
    refused = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(error))
    if refused:
        return (
            f"besides weights it holds Python objects ({refused.group(1)}), which are not loaded because "
            "loading them could run any code"
        )
    return "it is damaged, incomplete, or another kind of file"


def _key_mismatch(model, weights) -> tuple[list[str], list[str]]:
    expected = set(model.state_dict())
    return sorted(expected - set(weights)), sorted(set(weights) - expected)
