"""File > Open Sample: the bundled two-mice clip and a generated clip, each with ready prompts."""

from __future__ import annotations

from ..io.frames import open_frames
from ..io.prompts import Prompts
from ..sample import sample_paths
from ..testing.synthetic import crossing_ellipses
from ._prompts_layer import prompts_layer_data


def two_mice_sample():
    video, prompts = sample_paths()
    frames = open_frames(video)
    image = (frames, {"name": "two_mice_sample", "rgb": True, "contrast_limits": [0, 255]}, "image")
    return [image, prompts_layer_data(Prompts.from_csv(prompts), "two_mice_sample prompts")]


def generated_clip():
    clip = crossing_ellipses(num_frames=40, height=96, width=128)
    image = (clip.frames, {"name": "generated_clip", "rgb": True}, "image")
    return [image, prompts_layer_data(Prompts(clip.center_prompts(0), "generated"), "generated_clip prompts")]
