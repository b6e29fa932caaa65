"""File > Open Sample: a short real two-mice clip and a generated clip, each with ready prompts."""

from __future__ import annotations

from ..io.frames import open_frames
from ..io.prompts import Prompts
from ..sample import sample_paths
from ..testing.synthetic import crossing_ellipses
from ._prompts_layer import prompts_layer_data
from ._reader import video_layer_data

# The generated clip's size; tests make the same clip to compare with its truth.
GENERATED_CLIP = {"num_frames": 40, "height": 96, "width": 128}


def two_mice_sample() -> list[tuple]:
    """The bundled 60-frame excerpt of the two-mice video, one click on each mouse on frame 0."""
    video, prompts_csv = sample_paths()
    frames = open_frames(video)
    prompts = Prompts.from_csv(prompts_csv)
    return [
        video_layer_data(frames, "two_mice_sample", str(video)),
        prompts_layer_data(prompts, "two_mice_sample prompts", (frames.height, frames.width)),
    ]


def generated_clip() -> list[tuple]:
    """Two dark ellipses that meet and cross on a light floor; a click on each centre on frame 0."""
    clip = crossing_ellipses(**GENERATED_CLIP)
    height, width = clip.frames.shape[1:3]
    image = video_layer_data(open_frames(clip.frames), "generated_clip", source=None)
    prompts = Prompts(clip.center_prompts(0), source="generated clip")
    return [image, prompts_layer_data(prompts, "generated_clip prompts", (height, width))]
