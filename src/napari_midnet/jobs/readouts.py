"""Numbers for the side-by-side comparison: sharpness of source and result, and PSNR/SSIM of
both against an optional sharp reference after automatic alignment."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..blur.estimate import IN_FOCUS_LIMIT, MIN_FIT_SIDE, BlurEstimate, focus_map
from ..imaging import normalised, value_range
from ..io.databar import detect_databar
from ..metrics import interior, score, sharpness, shows_structure
from ..training.registration import RegistrationError, register_pair, valid_mask, warp_to

# Deblurring that changes the sharpness score by less than this ratio changed little (measured
# with the blind midnet-s: sharp JEOL frames 1.01-1.03; blurry JEOL frames 1.83-2.07, real
# defocused frames 1.20-1.55). Whether the input was in focus is the blur estimate's call
# (blur.IN_FOCUS_LIMIT): the ratio alone missed the sharp Zeiss frame (x1.31).
ALREADY_SHARP_RATIO = 1.10


def middle_gray_plane(array: np.ndarray) -> np.ndarray:
    """The plane a readout describes: RGB averaged to gray, the middle slice of a stack."""
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        array = array[..., :3].mean(axis=-1)
    while array.ndim > 2:
        array = array[array.shape[0] // 2]
    return array


def normalised_above_databar(plane: np.ndarray) -> np.ndarray:
    """A plane's rows above its SEM info bar, in [0, 1] as the network sees them."""
    lo, hi = value_range(plane)
    bar = detect_databar(plane)
    return normalised(plane[:bar if bar is not None else plane.shape[0]], lo, hi)


def identify(plane: np.ndarray):
    """The blur of a plane (above its info bar), per region and overall: a blur.FocusMap."""
    return focus_map(normalised_above_databar(plane))


@dataclass
class Readout:
    source_sharpness: float
    result_sharpness: float
    source_psnr: float | None = None
    source_ssim: float | None = None
    result_psnr: float | None = None
    result_ssim: float | None = None
    alignment: str = ""  # estimated shift/scale, or why alignment failed
    source_blur: BlurEstimate | None = None  # the source's estimated blur (None: too small to tell)
    uniform: bool = False  # the source holds a single value
    structureless: bool = False  # flat or pure noise (metrics.shows_structure): restoration passed it through

    @property
    def sharpness_ratio(self) -> float:
        return 1.0 if self.structureless else self.result_sharpness / self.source_sharpness

    @property
    def notice(self) -> str:
        """One sentence when the input already looked sharp, so little changed; else ''."""
        if self.uniform:
            return "the image is uniform (a single value): there is nothing to deblur"
        if self.structureless:
            return "the image shows no spatial structure, only uncorrelated noise: it was left as it was"
        if self.source_blur is not None:
            if not self.source_blur.in_focus:
                return ""
            return (f"the input already looks in focus ({self.source_blur.describe()}; in focus up to "
                    f"{IN_FOCUS_LIMIT} px): there was little to deblur")
        if not self.sharpness_ratio < ALREADY_SHARP_RATIO:
            return ""
        return (f"the input already looks sharp: deblurring changed its sharpness only "
                f"x{self.sharpness_ratio:.2f}, so little has changed")

    @property
    def psnr_change(self) -> float | None:
        return None if self.result_psnr is None else self.result_psnr - self.source_psnr

    @property
    def ssim_change(self) -> float | None:
        return None if self.result_ssim is None else self.result_ssim - self.source_ssim


def compute_readout(source: np.ndarray, result: np.ndarray, reference: np.ndarray | None = None,
                    source_blur: BlurEstimate | None = None) -> Readout:
    """2-D gray images; the databar (if any) is excluded from every number. `source_blur`: the
    source's blur when the restoration estimated it already (else it is estimated here)."""
    if source.shape != result.shape or source.ndim != 2:
        raise ValueError("source and result must be 2-D images of the same shape")
    bar = detect_databar(source)
    rows = bar if bar is not None else source.shape[0]
    readout = Readout(sharpness(source[:rows]), sharpness(result[:rows]), uniform=bool(np.ptp(source[:rows]) == 0),
                      structureless=not shows_structure(source[:rows]))
    if source_blur is not None:
        readout.source_blur = source_blur
    elif min(rows, source.shape[1]) >= MIN_FIT_SIDE and not readout.structureless:
        readout.source_blur = identify(source).global_estimate
    if reference is None:
        return readout
    if reference.ndim != 2:
        readout.alignment = "reference must be a 2-D gray image"
        return readout
    lo, hi = value_range(source)
    src, res, ref = (normalised(image, lo, hi) for image in (source, result, reference))
    ref_bar = detect_databar(reference)
    ref_rows = ref_bar if ref_bar is not None else reference.shape[0]
    try:
        registration = register_pair(src[:rows], ref[:ref_rows])
    except RegistrationError as error:
        readout.alignment = f"could not align the reference: {error}"
        return readout
    aligned = warp_to(ref[:ref_rows], registration, src.shape, order=3)
    mask = valid_mask(registration, (ref_rows, ref.shape[1]), src.shape)
    mask[rows:] = False
    mask = interior(mask)
    before, after = score(src, aligned, mask), score(np.clip(res, 0, 1), aligned, mask)
    readout.source_psnr, readout.source_ssim = before["psnr"], before["ssim"]
    readout.result_psnr, readout.result_ssim = after["psnr"], after["ssim"]
    readout.alignment = registration.describe()
    return readout
