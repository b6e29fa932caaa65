"""The writer: Labels layers to compressed TIFF stacks, exactly, in types Fiji opens."""

from __future__ import annotations

import numpy as np
import tifffile

from napari_sam2_longvideo.testing.truth_backend import TruthBackend

PLUGIN = "napari-sam2-longvideo"


def test_a_tracked_labels_layer_saves_as_a_compressed_tiff_stack_exactly(
    viewer, widget, generated, use_generated, wait_for_run, tmp_path
):
    widget.backend_factory = lambda settings: TruthBackend(generated)
    use_generated(widget, tmp_path / "run")
    widget.track()
    wait_for_run(widget)

    saved = viewer.layers["generated_clip labels"].save(str(tmp_path / "saved.tif"), plugin=PLUGIN)
    with tifffile.TiffFile(saved[0]) as tif:
        assert len(tif.pages) == 40 and tif.pages[0].compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        assert tif.pages[0].dtype == np.uint8  # 8-bit greyscale pages: one stack in Fiji
        np.testing.assert_array_equal(tif.asarray(), generated.truth)


def test_painted_labels_are_written_in_a_type_fiji_opens(viewer, tmp_path):
    painted = np.zeros((3, 20, 30), np.int64)  # napari's own Labels type
    painted[1, 5:9, 5:9] = 300
    layer = viewer.add_labels(painted)
    written = layer.save(str(tmp_path / "painted.tif"), plugin=PLUGIN)
    read = tifffile.imread(written[0])
    assert read.dtype == np.uint16
    np.testing.assert_array_equal(read, painted)

    one_frame = viewer.add_labels(np.eye(5, dtype=np.int32))
    read = tifffile.imread(one_frame.save(str(tmp_path / "frame.tif"), plugin=PLUGIN)[0])
    assert read.dtype == np.uint8
    np.testing.assert_array_equal(read.reshape(5, 5), np.eye(5))
