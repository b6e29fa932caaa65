"""Pure compute: chunked tracking, backends, overlap resolution. Never imports napari or Qt."""
