"""The bundled sample clip and its ready prompts (source and licence in this folder's README.md)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SAMPLE_VIDEO = "two_mice_60f_360p.mp4"
SAMPLE_PROMPTS = "two_mice_60f_360p_prompts.csv"


def sample_paths() -> tuple[Path, Path]:
    """Paths of the sample video and its prompts CSV inside the installed package."""
    folder = resources.files(__name__)
    return Path(str(folder / SAMPLE_VIDEO)), Path(str(folder / SAMPLE_PROMPTS))
