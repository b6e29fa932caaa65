"""Where models run: choosing the device, and the precision each device runs in."""

from __future__ import annotations

import contextlib

import torch

from ..errors import UserInputError


def pick_device(requested: str) -> torch.device:
    """``auto`` takes CUDA, then Apple's MPS, then the CPU; a named device must be there."""
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise UserInputError("--device cuda was asked for, but PyTorch sees no CUDA GPU; use --device cpu.")
    if requested == "mps" and not has_mps:
        raise UserInputError("--device mps was asked for, but this PyTorch has no MPS; use --device cpu.")
    return torch.device(requested)


def autocast_for(device: torch.device):
    """bf16 autocast on CUDA, as SAM2's own examples run it; full precision elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
