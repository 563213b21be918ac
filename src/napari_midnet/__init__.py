"""napari-midnet: deblur SEM images with MIDNet, in napari or from the shell.

Importing the package stays cheap (no torch): napari imports it at start-up.
"""

import os

# torch's OpenMP threads otherwise spin while idle, stalling a second busy process (napari's own
# GUI thread, another worker) by up to 10x on small machines; must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
