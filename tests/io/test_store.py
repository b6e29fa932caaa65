"""The label store: atomic chunks, resume bookkeeping, lazy reading, exports."""

import csv
import json

import numpy as np
import pytest
import tifffile

from napari_sam2_longvideo.core.chunks import chunk_plan
from napari_sam2_longvideo.core.records import TRACK_DTYPE
from napari_sam2_longvideo.errors import UserInputError
from napari_sam2_longvideo.io.export import write_labels_tiff, write_tracks_csv
from napari_sam2_longvideo.io.store import LabelStore


def chunk_data(chunk, shape=(6, 8)):
    labels = np.zeros((len(chunk),) + shape, np.uint8)
    for i, t in enumerate(range(chunk.start, chunk.stop)):
        labels[i, t % shape[0], :] = 1 + t % 2
    records = np.zeros(len(chunk), TRACK_DTYPE)
    records["frame"] = np.arange(chunk.start, chunk.stop)
    records["animal"] = 1
    records["centroid_y"] = np.nan
    return labels, records


@pytest.fixture
def store(tmp_path):
    return LabelStore.create(tmp_path / "store", (10, 6, 8), np.uint8, chunk_plan(10, 4))


def test_finished_chunks_survive_reopening_and_unfinished_frames_read_as_background(store, tmp_path):
    store.write_chunk(store.chunks[0], *chunk_data(store.chunks[0]))
    reopened = LabelStore.open(tmp_path / "store")
    assert reopened.done_chunks == [0] and reopened.frames_done == 4 and not reopened.complete
    np.testing.assert_array_equal(reopened[0:4], chunk_data(store.chunks[0])[0])
    assert not reopened[7].any()
    assert reopened.shape == (10, 6, 8) and reopened.ndim == 3 and reopened.dtype == np.uint8


def test_a_chunk_written_but_not_recorded_is_not_taken_as_done(store, tmp_path):
    """A crash between writing a chunk's file and updating the index leaves the chunk to be redone."""
    labels, records = chunk_data(store.chunks[1])
    (tmp_path / "store" / "chunk_00001.npz.partial").write_bytes(b"half a file")
    reopened = LabelStore.open(tmp_path / "store")
    assert reopened.done_chunks == []
    reopened.write_chunk(reopened.chunks[1], labels, records)
    assert LabelStore.open(tmp_path / "store").done_chunks == [1]


def test_lazy_indexing_matches_numpy(store):
    full = np.zeros((10, 6, 8), np.uint8)
    for chunk in store.chunks:
        labels, records = chunk_data(chunk)
        store.write_chunk(chunk, labels, records)
        full[chunk.start : chunk.stop] = labels
    assert store.complete
    np.testing.assert_array_equal(np.asarray(store), full)
    for key in [3, -1, slice(2, 9, 3), (5, 1), (slice(None), 2, slice(1, 4))]:
        np.testing.assert_array_equal(store[key], full[key])
    assert len(store.records()) == 10


def test_exports_round_trip(store, tmp_path):
    for chunk in store.chunks:
        store.write_chunk(chunk, *chunk_data(chunk))
    path = write_labels_tiff(store, tmp_path / "labels.tif")
    np.testing.assert_array_equal(tifffile.imread(path), np.asarray(store))
    with tifffile.TiffFile(path) as tif:
        assert len(tif.series) == 1 and not tif.is_bigtiff

    tracks = write_tracks_csv(store.records(), tmp_path / "tracks.csv")
    with open(tracks) as handle:
        rows = list(csv.DictReader(handle))
    assert [r["frame"] for r in rows] == [str(t) for t in range(10)]
    assert rows[0]["centroid_y"] == "" and rows[0]["lost"] == "0"


def test_labels_tif_holds_the_stored_frames_byte_for_byte(store, tmp_path):
    """The TIFF's pages are the store's compressed frames, copied: nothing is compressed twice."""
    for chunk in store.chunks:
        store.write_chunk(chunk, *chunk_data(chunk))
    path = write_labels_tiff(store, tmp_path / "labels.tif")
    with tifffile.TiffFile(path) as tif, open(path, "rb") as raw:
        assert len(tif.pages) == 10
        for t, page in enumerate(tif.pages):
            assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE and len(page.dataoffsets) == 1
            raw.seek(page.dataoffsets[0])
            assert raw.read(page.databytecounts[0]) == store.encoded_frame(t)


def test_sixteen_bit_labels_round_trip_through_the_store_and_the_tiff(tmp_path):
    store = LabelStore.create(tmp_path / "store", (3, 5, 7), np.uint16, chunk_plan(3, 2))
    full = np.zeros((3, 5, 7), np.uint16)
    full[1, 2, 3], full[2, 4, 6] = 300, 65535
    for chunk in store.chunks:
        store.write_chunk(chunk, full[chunk.start : chunk.stop], np.zeros(0, TRACK_DTYPE))
    reopened = LabelStore.open(tmp_path / "store")
    np.testing.assert_array_equal(reopened[:], full)
    written = tifffile.imread(write_labels_tiff(reopened, tmp_path / "labels.tif"))
    assert written.dtype == np.uint16
    np.testing.assert_array_equal(written, full)


def test_a_store_from_before_the_per_frame_format_is_refused_with_what_to_do(store, tmp_path):
    index = tmp_path / "store" / "store.json"
    old = json.loads(index.read_text())
    del old["format"]
    index.write_text(json.dumps(old))
    with pytest.raises(UserInputError, match=r"earlier version.*start over.*--overwrite"):
        LabelStore.open(tmp_path / "store")


def test_an_unfinished_chunk_exports_as_background(store, tmp_path):
    store.write_chunk(store.chunks[0], *chunk_data(store.chunks[0]))
    written = tifffile.imread(write_labels_tiff(store, tmp_path / "labels.tif"))
    np.testing.assert_array_equal(written[:4], chunk_data(store.chunks[0])[0])
    assert not written[4:].any()


def test_a_chunk_written_frame_by_frame_is_saved_only_when_finished(tmp_path):
    """More frames than the writer hands over at once, so several batches compress in turn."""
    store = LabelStore.create(tmp_path / "store", (40, 6, 8), np.uint8, chunk_plan(40, 37))
    chunk = store.chunks[0]
    labels, records = chunk_data(chunk)
    with store.chunk_writer(chunk) as writer:
        for frame in labels:
            writer.add(frame)
        assert not store.is_done(0) and not (tmp_path / "store" / "chunk_00000.npz").exists()
        writer.finish(records)
    assert LabelStore.open(tmp_path / "store").done_chunks == [0]
    np.testing.assert_array_equal(store[0:37], labels)
    assert [store.encoded_frame(t) for t in range(37)] == [store.encode(frame) for frame in labels]


def test_a_chunk_left_unfinished_or_short_of_frames_is_not_saved(store, tmp_path):
    labels, records = chunk_data(store.chunks[0])
    with store.chunk_writer(store.chunks[0]) as writer:  # a run stopped halfway through the chunk
        for frame in labels[:2]:
            writer.add(frame)
    with pytest.raises(ValueError, match="chunk 0 has 4 frames, 3 were added"):
        with store.chunk_writer(store.chunks[0]) as writer:
            for frame in labels[:3]:
                writer.add(frame)
            writer.finish(records)
    with pytest.raises(ValueError, match=r"shape \(6, 9\)"), store.chunk_writer(store.chunks[0]) as writer:
        writer.add(np.zeros((6, 9), np.uint8))
    assert LabelStore.open(tmp_path / "store").done_chunks == []
    assert not list((tmp_path / "store").glob("chunk_*"))
