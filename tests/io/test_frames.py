"""Folders of frames, TIFF stacks and arrays behind one FrameSource, converted to RGB uint8 consistently."""

from __future__ import annotations

import json
import tracemalloc

import dask.array as da
import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_sam2_longvideo.errors import FrameReadError, UserInputError
from napari_sam2_longvideo.io.convert import (
    RGBConversion,
    plan_conversion,
    sample_frame_indices,
)
from napari_sam2_longvideo.io.frames import (
    ArrayFrames,
    ImageFolderFrames,
    TiffStackFrames,
    open_frames,
)
from napari_sam2_longvideo.io.source import FrameSource


def numbered_rgb(index: int, height: int = 24, width: int = 32) -> np.ndarray:
    """A frame whose red channel holds its index, exactly, for lossless formats."""
    frame = np.zeros((height, width, 3), np.uint8)
    frame[..., 0] = index
    frame[..., 1] = 100
    return frame


def write_png_folder(folder, count: int, name: str = "frame{}.png"):
    folder.mkdir(exist_ok=True)
    for index in range(count):
        Image.fromarray(numbered_rgb(index)).save(folder / name.format(index))
    return folder


# -- folders --------------------------------------------------------------------------------------


def test_folder_is_read_in_natural_order(tmp_path):
    folder = write_png_folder(tmp_path / "frames", 12)
    (folder / "._frame3.png").write_bytes(b"macOS metadata, not an image")
    (folder / "notes.txt").write_text("ignored")
    with open_frames(folder) as frames:
        assert isinstance(frames, ImageFolderFrames)
        assert [p.name for p in frames.files[:3]] == ["frame0.png", "frame1.png", "frame2.png"]
        assert frames.files[-1].name == "frame11.png"
        assert [int(frames.read(t)[0, 0, 0]) for t in range(12)] == list(range(12))
        assert (frames.height, frames.width, frames.info["kind"]) == (24, 32, "folder")
        np.testing.assert_array_equal(frames.read(4), numbered_rgb(4))


def test_folder_suffixes_are_case_insensitive_and_jpeg_works(tmp_path):
    folder = tmp_path / "jpegs"
    folder.mkdir()
    for index in range(3):
        Image.fromarray(numbered_rgb(index * 100)).save(folder / f"img_{index}.JPG", quality=95)
    frames = open_frames(folder)
    assert len(frames) == 3
    assert [abs(int(frames.read(t)[5, 5, 0]) - t * 100) <= 3 for t in range(3)] == [True] * 3


def test_folder_fingerprint_changes_with_the_names(tmp_path):
    first = open_frames(write_png_folder(tmp_path / "a", 4))
    renamed = open_frames(write_png_folder(tmp_path / "b", 4, name="other{}.png"))
    fingerprint = first.fingerprint()
    assert json.loads(json.dumps(fingerprint)) == fingerprint
    assert fingerprint["num_frames"] == 4 and fingerprint["path"] == str((tmp_path / "a").resolve())
    del fingerprint["path"]
    other = renamed.fingerprint()
    del other["path"]
    assert fingerprint != other


def test_folder_of_16_bit_tiffs_is_scaled_once(tmp_path):
    folder = tmp_path / "tiffs"
    folder.mkdir()
    for index in range(5):
        tifffile.imwrite(folder / f"t{index}.tif", np.full((8, 8), 1000 * index, np.uint16))
    frames = open_frames(folder)
    assert frames.info["conversion"] == "percentile scaling"
    assert [int(frames.read(t)[0, 0, 0]) for t in (0, 4)] == [0, 255]


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no frames here")
    with pytest.raises(UserInputError, match=r"empty holds no frames: expected image files ending in \.jpg"):
        open_frames(tmp_path / "empty")


def test_folder_with_a_frame_of_another_size(tmp_path):
    folder = write_png_folder(tmp_path / "frames", 4)
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(folder / "frame2.png")
    with pytest.raises(UserInputError, match=r"frame2\.png is 40x30 but frame0\.png is 32x24"):
        open_frames(folder)


def test_folder_with_mixed_bit_depths(tmp_path):
    folder = write_png_folder(tmp_path / "frames", 3)
    Image.fromarray(np.zeros((24, 32), np.uint16)).save(folder / "frame1.png")
    with pytest.raises(UserInputError, match=r"frame1\.png holds .* but frame0\.png holds uint8"):
        open_frames(folder)


def test_truncated_png_in_folder_names_frame_5(tmp_path):
    folder = write_png_folder(tmp_path / "frames", 8)
    whole = (folder / "frame5.png").read_bytes()
    (folder / "frame5.png").write_bytes(whole[: len(whole) // 2])
    frames = open_frames(folder)  # headers are intact: the damage shows when the pixels are read
    assert int(frames.read(4)[0, 0, 0]) == 4
    with pytest.raises(FrameReadError, match=r"frame 5 of .*frame5\.png") as raised:
        frames.read(5)
    assert raised.value.frame == 5
    assert int(frames.read(6)[0, 0, 0]) == 6


def test_folder_file_that_is_no_image_at_all(tmp_path):
    folder = write_png_folder(tmp_path / "frames", 3)
    (folder / "frame1.png").write_text("not a png")
    with pytest.raises(FrameReadError, match=r"frame 1 of .*frame1\.png"):
        open_frames(folder)


# -- TIFF stacks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_tiff_stack_reads_one_page_without_the_others(tmp_path, compression):
    stack = np.random.default_rng(0).integers(0, 4000, (64, 256, 256), dtype=np.uint16)
    stack[:, 0, 0] = np.arange(64) * 60
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack, compression=compression)
    frames = open_frames(path)
    assert isinstance(frames, TiffStackFrames)
    assert frames.info["memory_mapped"] is (compression is None)
    tracemalloc.start()
    try:
        frame = frames.read(63)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert frame.shape == (256, 256, 3)
    # The stack is 8 MiB; one page and its conversion take well under a quarter of it.
    assert peak < stack.nbytes / 4
    assert frames.read(10)[0, 0, 0] < frame[0, 0, 0]


@pytest.mark.parametrize("planarconfig", ["contig", "separate"])
def test_rgb_tiff_stack_passes_through(tmp_path, planarconfig):
    stack = np.random.default_rng(1).integers(0, 256, (6, 20, 30, 3), dtype=np.uint8)
    stored = stack if planarconfig == "contig" else np.moveaxis(stack, -1, 1)
    tifffile.imwrite(tmp_path / "rgb.TIFF", stored, photometric="rgb", planarconfig=planarconfig)
    with open_frames(tmp_path / "rgb.TIFF") as frames:
        assert (len(frames), frames.height, frames.width) == (6, 20, 30)
        np.testing.assert_array_equal(frames.read(3), stack[3])
        assert frames.fingerprint()["kind"] == "tiff_stack"
    with pytest.raises(UserInputError, match=r"rgb\.TIFF was closed"):
        frames.read(3)


def test_not_a_tiff(tmp_path):
    (tmp_path / "fake.tif").write_text("not a tiff")
    with pytest.raises(UserInputError, match=r"fake\.tif is not a TIFF stack tifffile can read"):
        open_frames(tmp_path / "fake.tif")


def test_tiff_with_two_stacked_axes_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "hyper.tif", np.zeros((3, 4, 8, 8), np.uint8), imagej=True, metadata={"axes": "TZYX"})
    with pytest.raises(UserInputError, match=r"hyper\.tif has axes TZYX"):
        open_frames(tmp_path / "hyper.tif")


# -- arrays ---------------------------------------------------------------------------------------


def test_grey_array_becomes_three_equal_channels():
    grey = np.arange(5 * 4 * 6, dtype=np.uint8).reshape(5, 4, 6)
    frames = open_frames(grey)
    assert isinstance(frames, ArrayFrames) and frames.path == "<array>"
    rgb = frames.read(2)
    assert rgb.shape == (4, 6, 3) and rgb.flags.c_contiguous
    for channel in range(3):
        np.testing.assert_array_equal(rgb[..., channel], grey[2])


def test_rgba_array_drops_alpha():
    rgba = np.random.default_rng(2).integers(0, 256, (3, 4, 5, 4), dtype=np.uint8)
    np.testing.assert_array_equal(open_frames(rgba).read(1), rgba[1, ..., :3])


def test_rgb_array_is_copied_not_shared():
    rgb = np.zeros((2, 4, 5, 3), np.uint8)
    open_frames(rgb).read(0)[:] = 9
    assert rgb.max() == 0


def test_dask_array_is_read_frame_by_frame():
    frames_np = np.stack([numbered_rgb(i) for i in range(10)])
    lazy = da.from_array(frames_np, chunks=(1, 24, 32, 3))
    frames = open_frames(lazy)
    assert [int(frames.read(t)[0, 0, 0]) for t in (9, 0, 5)] == [9, 0, 5]
    assert frames.fingerprint() == open_frames(frames_np).fingerprint() | {"path": "<array>"}
    assert frames.fingerprint() != open_frames(frames_np[::-1]).fingerprint()
    json.dumps(frames.fingerprint())


def test_array_of_the_wrong_shape():
    with pytest.raises(UserInputError, match=r"shape \(4, 5\) is not a video"):
        open_frames(np.zeros((4, 5)))
    with pytest.raises(UserInputError, match=r"shape \(2, 4, 5, 2\) is not a video"):
        open_frames(np.zeros((2, 4, 5, 2)))


def test_array_view_for_napari():
    frames = open_frames(np.stack([numbered_rgb(i) for i in range(6)]))
    assert (frames.shape, frames.dtype, frames.ndim) == ((6, 24, 32, 3), np.uint8, 4)
    assert frames[1:4].shape == (3, 24, 32, 3) and frames[4, 0, 0, 0] == 4
    assert frames[-1][0, 0, 0] == 5 and frames[(2, slice(None), 3)].shape == (24, 3)
    assert open_frames(frames) is frames


# -- conversion -----------------------------------------------------------------------------------


def test_16_bit_frames_of_different_brightness_share_one_scale():
    ramp = np.tile(np.arange(1000, 2000, dtype=np.uint16), (10, 1))
    stack = np.stack([ramp + 600 * t for t in range(20)])  # each frame brighter than the last
    frames = open_frames(stack)
    assert frames.conversion.rescales
    # 2200 is column 600 of frame 1 and column 0 of frame 2: the same value must look the same in both.
    assert stack[1][0, 600] == stack[2][0, 0] == 2200
    np.testing.assert_array_equal(frames.read(1)[:, 600], frames.read(2)[:, 0])
    # Scaling each frame on its own would stretch it to 0..255; one scale keeps dim frames dim.
    assert frames.read(0).max() < 60 and frames.read(19).min() > 195
    assert frames.info["low"] == frames.conversion.low


def test_percentiles_are_taken_from_sampled_frames_once():
    reads = []

    def read_raw(t):
        reads.append(t)
        return np.full((4, 4), t, np.float32)

    conversion = plan_conversion(np.float32, 1000, read_raw)
    assert reads == sample_frame_indices(1000) and len(reads) == 16 and reads[0] == 0 and reads[-1] == 999
    assert conversion.low == pytest.approx(0.5 / 100 * 999, abs=10)
    assert conversion.high == pytest.approx(999 - 0.5 / 100 * 999, abs=10)


def test_eight_bit_needs_no_sample_and_passes_through():
    conversion = plan_conversion(np.uint8, 10, lambda t: pytest.fail("8-bit input must not be sampled"))
    frame = np.random.default_rng(3).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    converted = conversion(frame)
    assert conversion == RGBConversion() and np.shares_memory(converted, frame)
    np.testing.assert_array_equal(converted, frame)


def test_float_nan_and_constant_frames_do_not_break_scaling():
    conversion = RGBConversion(low=1.0, high=1.0)
    frame = np.array([[np.nan, 1.0], [2.0, 0.0]], np.float32)
    assert conversion(frame)[..., 0].tolist() == [[0, 0], [255, 0]]


# -- paths ----------------------------------------------------------------------------------------


def test_missing_path(tmp_path):
    with pytest.raises(UserInputError, match=r"nowhere\.mp4 does not exist"):
        open_frames(tmp_path / "nowhere.mp4")


def test_unsupported_file_and_single_image(tmp_path):
    (tmp_path / "data.csv").write_text("1,2")
    with pytest.raises(UserInputError, match=r"data\.csv is not a supported input"):
        open_frames(str(tmp_path / "data.csv"))
    Image.fromarray(numbered_rgb(0)).save(tmp_path / "one.png")
    with pytest.raises(UserInputError, match=r"one\.png is a single image"):
        open_frames(tmp_path / "one.png")


def test_frame_out_of_range_names_t_and_the_count(tmp_path):
    frames = open_frames(write_png_folder(tmp_path / "frames", 3))
    with pytest.raises(UserInputError, match=r"Frame 3 is out of range: .*frames has 3 frames \(0 to 2\)"):
        frames.read(3)
    with pytest.raises(UserInputError, match=r"Frame 7 is out of range: <array> has 2 frames"):
        open_frames(np.zeros((2, 4, 4), np.uint8)).read(7)


def test_a_frame_source_is_a_python_sequence(tmp_path):
    """Past the end is an IndexError (with the same clear message), so iteration ends at the last frame."""
    frames = open_frames(write_png_folder(tmp_path / "frames", 4))
    listed = list(frames)
    assert len(listed) == 4 and [int(frame[0, 0, 0]) for frame in listed] == [0, 1, 2, 3]
    assert [int(frame[0, 0, 0]) for frame in open_frames(np.stack([numbered_rgb(i) for i in range(3)]))] == [0, 1, 2]
    with pytest.raises(IndexError, match=r"Frame 4 is out of range"):
        frames[4]
    with pytest.raises(IndexError, match=r"Frame -5 is out of range"):
        frames[-5]
    np.testing.assert_array_equal(frames[-1], numbered_rgb(3))


def test_base_class_is_the_common_type(tmp_path):
    assert all(
        isinstance(source, FrameSource)
        for source in (open_frames(np.zeros((1, 2, 2), np.uint8)), open_frames(write_png_folder(tmp_path / "f", 1)))
    )
