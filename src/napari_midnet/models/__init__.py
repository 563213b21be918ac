"""The networks and their files: presets, weights and cards, the registry, bioimage.io packages read, one loader."""
