"""Numbers for the side-by-side comparison: sharpness of source and result, and PSNR/SSIM of
both against an optional sharp reference after automatic alignment."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .databar import detect_databar
from .metrics import interior, score, sharpness
from .registration import RegistrationError, register_pair, valid_mask, warp_to
from .restore import value_range

# Below this result/source sharpness ratio the input already looked sharp to the model. The ratio,
# not the score itself, decides: the score depends on content (sharp frames of other microscopes
# score 0.03-1.9, the blurry Zeiss sample 0.18, sharp JEOL frames 0.14-0.18). Measured with the
# shipped midnet-s: sharp JEOL frames 1.01-1.03, sharp deepsem frames 1.00; blurry JEOL frames
# 1.83-2.07, real defocused frames (deepfocus) 1.20-1.55, the blurry Zeiss sample 2.19.
ALREADY_SHARP_RATIO = 1.10


@dataclass
class Readout:
    source_sharpness: float
    result_sharpness: float
    source_psnr: float | None = None
    source_ssim: float | None = None
    result_psnr: float | None = None
    result_ssim: float | None = None
    alignment: str = ""  # estimated shift/scale, or why alignment failed

    @property
    def uniform(self) -> bool:
        """A flat source (one value): there is no structure to measure or deblur."""
        return self.source_sharpness == 0

    @property
    def sharpness_ratio(self) -> float:
        return 1.0 if self.uniform else self.result_sharpness / self.source_sharpness

    @property
    def notice(self) -> str:
        """One sentence when the input already looked sharp, so little changed; else ''."""
        if self.uniform:
            return "the image is uniform (a single value): there is nothing to deblur"
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


def compute_readout(source: np.ndarray, result: np.ndarray, reference: np.ndarray | None = None) -> Readout:
    """2-D gray images; the databar (if any) is excluded from every number."""
    if source.shape != result.shape or source.ndim != 2:
        raise ValueError("source and result must be 2-D images of the same shape")
    bar = detect_databar(source)
    rows = bar if bar is not None else source.shape[0]
    readout = Readout(sharpness(source[:rows]), sharpness(result[:rows]))
    if reference is None:
        return readout
    if reference.ndim != 2:
        readout.alignment = "reference must be a 2-D gray image"
        return readout
    lo, hi = value_range(source)
    scale = lambda image: (image.astype(np.float32) - lo) / (hi - lo)  # noqa: E731
    src, res, ref = scale(source), scale(result), scale(reference)
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
