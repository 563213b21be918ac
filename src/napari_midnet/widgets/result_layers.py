"""The layers the Deblur panel adds: results, previews and focus maps, placed and named so the
newest result is what the canvas shows and none of them becomes the next input by accident."""

from __future__ import annotations

from napari.layers import Image


def add_result(viewer, source: Image, index: tuple, outcome) -> Image:
    """The result on top (what the canvas shows), the source's older results hidden; of a stack's
    one slice, a one-slice stack at that slice, not a plane shown at every z."""
    data = outcome.data
    levels = data if isinstance(data, list) else [data]  # a streamed result: its pyramid on disk, lazily
    translate = list(source.translate[-levels[0].ndim:])
    if index:  # one slice of a stack: a one-slice stack at that slice, not a plane shown at every z
        levels = [level.reshape((1,) * len(index) + level.shape) for level in levels]
        translate = [t + i * s for t, i, s in zip(source.translate, index, source.scale)] + translate
    data = levels if len(levels) > 1 else levels[0]
    dims = levels[0].ndim
    kwargs = dict(
        name=f"{source.name} deblurred",
        scale=source.scale[-dims:], translate=translate, units=source.units[-dims:],
        colormap=source.colormap, contrast_limits=source.contrast_limits, multiscale=len(levels) > 1,
        metadata={**{k: v for k, v in source.metadata.items() if k == "sem"},
                  "midnet": {**outcome.provenance, "source": source.name, "slice": list(index) or None}},
    )
    for older in viewer.layers:  # the newest result is the one on screen
        if older.metadata.get("midnet", {}).get("source") == source.name:
            older.visible = False
    return viewer.add_image(data, **kwargs)  # on top: the newest result is what the canvas shows


def add_preview(viewer, source: Image, origin: tuple[int, ...], outcome) -> None:
    """Over the region it came from (replacing the source's older preview); of a stack, a
    one-slice stack at the slice on screen."""
    data = outcome.data.reshape((1,) * (len(origin) - 2) + outcome.data.shape)
    translate = [t + o * s for t, o, s in zip(source.translate, origin, source.scale)]
    name = f"{source.name} preview"
    if name in viewer.layers:
        viewer.layers.remove(name)
    viewer.add_image(data, name=name, scale=source.scale, translate=translate, units=source.units,
                          colormap=source.colormap, contrast_limits=source.contrast_limits,
                          metadata={"midnet": {**outcome.provenance, "source": source.name, "preview_origin":
                                               list(origin)}})


def add_focus_map(viewer, source: Image, sigma, index: tuple = ()) -> None:
    """One map per source: it replaces the source's older one and lies just above the source,
    under any result (additive maps piled up would whiten the canvas and cover the result)."""
    for older in [layer for layer in viewer.layers
                  if layer.metadata.get("midnet", {}).get("focus_map_of") == source.name]:
        viewer.layers.remove(older)
    dims = sigma.ndim
    added = viewer.add_image(
        sigma, name=f"{source.name} focus map (blur px)", colormap="magma", opacity=0.5, blending="additive",
        scale=source.scale[-dims:], translate=source.translate[-dims:], units=source.units[-dims:],
        metadata={"midnet": {"focus_map_of": source.name, "slice": list(index) or None}})
    if source in viewer.layers:
        viewer.layers.move(viewer.layers.index(added), viewer.layers.index(source) + 1)
