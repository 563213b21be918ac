"""Files in and out: images with their instrument metadata, zarr/OME-Zarr stores, the databar,
napari's reader and sample."""
