"""The overlay video: one frame per frame, outlines and captions where the labels are."""

import av
import numpy as np
import pytest

from napari_sam2_longvideo.errors import UserInputError
from napari_sam2_longvideo.io.frames import open_frames
from napari_sam2_longvideo.io.overlay import check_overlay_path, draw_labels, label_colour, write_overlay
from napari_sam2_longvideo.testing.synthetic import crossing_ellipses


def decoded(path):
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_outline_in_the_labels_colour_and_the_caption_above_it():
    image = np.full((60, 80, 3), 200, np.uint8)
    labels = np.zeros((60, 80), np.uint16)
    labels[30:50, 20:60] = 2
    drawn = draw_labels(image, labels, {2: "2 mouse"})
    assert (drawn[30, 20:60] == label_colour(2)).all(axis=1).mean() > 0.5  # the top edge is outlined
    assert (drawn[40, 35:45] == 200).all()  # inside untouched
    assert (drawn[10:29, 15:70] != 200).any()  # the caption
    assert (image == 200).all()  # the frame given is not drawn on


@pytest.mark.parametrize("size", [(96, 128), (95, 127)])
def test_the_overlay_has_one_frame_per_frame(tmp_path, size):
    clip = crossing_ellipses(num_frames=17, height=size[0], width=size[1])
    path = write_overlay(tmp_path / "overlay.mp4", open_frames(clip.frames), clip.truth)
    frames = decoded(path)
    assert len(frames) == 17
    assert frames[0].shape[:2] == (96, 128)  # odd sides get an edge row / column (H.264 4:2:0)
    assert not (tmp_path / "overlay.mp4.partial").exists()


def test_a_bad_overlay_path_is_refused_naming_it(tmp_path):
    with pytest.raises(UserInputError, match=r"overlay\.txt.*\.mp4"):
        check_overlay_path(tmp_path / "overlay.txt")
    with pytest.raises(UserInputError, match="does not exist"):
        check_overlay_path(tmp_path / "nowhere" / "overlay.mp4")


def test_a_tracking_runs_captions_name_each_animals_class_where_a_detector_named_it():
    from napari_sam2_longvideo.core.records import TRACK_DTYPE
    from napari_sam2_longvideo.io.overlay import track_captions

    records = np.zeros(3, TRACK_DTYPE)
    records["frame"], records["animal"], records["class_id"] = [0, 0, 1], [1, 2, 1], [0, -1, 3]
    captions = track_captions(records, {0: "mouse"})
    assert captions(0) == {1: "1 mouse"} and captions(1) == {} and captions(7) == {}
