"""The label store: atomic chunks, resume bookkeeping, lazy reading, exports."""

import csv

import numpy as np
import pytest
import tifffile

from napari_sam2_longvideo.engine.chunks import chunk_plan
from napari_sam2_longvideo.engine.overlaps import TRACK_DTYPE
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
