"""labels.tif rewritten after a correction: only the changed frames compressed anew, the same bytes."""

import numpy as np
import tifffile

from napari_sam2_longvideo.core.records import TRACK_DTYPE
from napari_sam2_longvideo.io.export import write_labels_tiff, write_tracks_csv, written_context


def labels(seed, num_frames=40):
    rng = np.random.default_rng(seed)
    stack = np.zeros((num_frames, 24, 32), np.uint8)
    for t in range(num_frames):
        y, x = rng.integers(0, 16, 2)
        stack[t, y : y + 8, x : x + 8] = 1 + t % 2
    return stack


def test_a_patched_file_is_byte_for_byte_the_file_written_whole(tmp_path):
    old, new = labels(0), labels(0)
    new[10:17] = labels(1)[10:17]
    write_labels_tiff(old, tmp_path / "patched.tif")
    write_labels_tiff(new, tmp_path / "patched.tif", changed=(10, 17))
    write_labels_tiff(new, tmp_path / "whole.tif")
    assert (tmp_path / "patched.tif").read_bytes() == (tmp_path / "whole.tif").read_bytes()
    assert np.array_equal(tifffile.imread(tmp_path / "patched.tif"), new)


def test_frames_outside_changed_are_taken_from_the_old_file(tmp_path):
    write_labels_tiff(labels(0), tmp_path / "labels.tif")
    write_labels_tiff(labels(1), tmp_path / "labels.tif", changed=(0, 5))  # a lie about frames 5..39
    found = tifffile.imread(tmp_path / "labels.tif")
    assert np.array_equal(found[:5], labels(1)[:5]) and np.array_equal(found[5:], labels(0)[5:])


def test_an_old_file_of_another_shape_or_none_at_all_is_written_whole(tmp_path):
    write_labels_tiff(labels(0, num_frames=30), tmp_path / "labels.tif")
    write_labels_tiff(labels(1), tmp_path / "labels.tif", changed=(0, 5))
    assert np.array_equal(tifffile.imread(tmp_path / "labels.tif"), labels(1))
    write_labels_tiff(labels(1), tmp_path / "new.tif", changed=(0, 5))
    assert np.array_equal(tifffile.imread(tmp_path / "new.tif"), labels(1))


def test_tracks_csv_rewritten_from_its_own_context_is_the_same_file(tmp_path):
    """A correction rewrites tracks.csv from the records alone: the times and class names come back
    from the file it replaces."""
    records = np.zeros(6, TRACK_DTYPE)
    records["frame"], records["animal"] = [0, 0, 1, 1, 2, 2], [1, 2, 1, 2, 1, 2]
    records["class_id"] = [0, 3, 0, 3, 0, 3]
    records["centroid_y"][2] = np.nan
    times = np.array([0.0, 0.033367, 0.066733])
    first = write_tracks_csv(records, tmp_path / "first.csv", times, {0: "mouse", 3: "rat"})
    again = write_tracks_csv(records, tmp_path / "again.csv", *written_context(first))
    assert again.read_bytes() == first.read_bytes()
    assert written_context(write_tracks_csv(records, tmp_path / "bare.csv")) == (None, {})
