"""napari-midnet: deblur SEM images with MIDNet, in napari or from the shell.

Importing the package stays cheap (no torch): napari imports it at start-up.
"""

__version__ = "0.1.0"
