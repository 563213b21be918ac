"""Architecture settings and presets, without torch (cheap to import from napari's GUI)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


def pool_window(training_crop: int) -> int:
    """Channel-attention pooling window at inference: 3x the training crop. On the six real JEOL
    pairs, midnet-s and midnet-s-psf scored higher on every frame pooling over 384 px than over
    the 192 px of TLC's 1.5x rule (+0.02-0.18 dB with 128-px crops): the statistics of a larger
    region are steadier, and tiles up to 384 px then take the cheap global mean."""
    return 3 * training_crop


DEFAULT_POOL_WINDOW = pool_window(128)  # for weights whose card does not say their crop


class Architecture(StrEnum):
    """The network families `models.nets` builds (NAFNet is MIDNet without gates: a flag)."""

    MIDNET = "midnet"
    SRN = "srn"
    MRN = "mrn"
    MSTSGM = "mstsgm"
    MEDDEBLUR = "meddeblur"
    PHYSICS = "physics"  # unrolled half-quadratic splitting with a MIDNet prior (nets/physics.py)
    BIOIMAGEIO = "bioimageio"  # a foreign package, run by bioimageio.core's own pipeline


# Input planes of a kernel-aware network beside the image: the spot encoded (4) and the image
# deconvolved at two regularisations (restoration.condition builds them).
CONDITION_PLANES = 6


@dataclass(frozen=True)
class ModelConfig:
    """Architecture arguments; stored in every weights file so it can be rebuilt."""

    width: int = 32  # channels at full resolution (all architectures)
    enc_blocks: tuple[int, ...] = (1, 1, 1, 28)
    middle_blocks: int = 1
    dec_blocks: tuple[int, ...] = (1, 1, 1, 1)
    attention_gates: bool = True  # MIDNet's soft gates on the skips
    architecture: Architecture = Architecture.MIDNET
    condition_planes: int = 0  # input planes carrying the blur estimate (CONDITION_PLANES), 0: blind
    stages: int = 0  # the physics restorer's prior steps between its exact data steps (PHYSICS only)

    def __post_init__(self):
        object.__setattr__(self, "architecture", Architecture(self.architecture))  # cards store the word

    @property
    def kernel_aware(self) -> bool:
        """Takes the identified blur as input planes (else blind: the image alone)."""
        return self.condition_planes > 0

    def as_dict(self) -> dict:
        """Plain JSON values (and plain pickles: checkpoints load with weights_only)."""
        return {k: list(v) if isinstance(v, tuple) else str(v) if isinstance(v, StrEnum) else v
                for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown model arguments: {', '.join(sorted(unknown))}")
        fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**fixed)


@dataclass(frozen=True)
class Preset:
    config: ModelConfig
    summary: str


SINGLE_BODY = {"enc_blocks": (), "dec_blocks": (), "attention_gates": False}  # no U-Net levels (SRN, MRN)


PRESETS: dict[str, Preset] = {
    "midnet": Preset(ModelConfig(), "paper configuration (width 32, enc [1,1,1,28])"),
    # Chosen by `napari-midnet bench`: ~11x fewer parameters and ~4x the CPU throughput of the
    # paper net, and the size the calibration run showed +3.7 dB with in 20 CPU-minutes.
    "midnet-s": Preset(
        ModelConfig(width=16, enc_blocks=(1, 1, 1, 4), middle_blocks=1, dec_blocks=(1, 1, 1, 1)),
        "CPU-friendly (width 16, enc [1,1,1,4]), blind: reads the blur from the image itself",
    ),
    # Kernel-aware: the blur estimate (blur.py) as extra input planes (the spot encoded, and the
    # image deconvolved with it), so the network restores what the identified blur needs
    # instead of guessing the blur from the image.
    "midnet-s-psf": Preset(
        ModelConfig(width=16, enc_blocks=(1, 1, 1, 4), middle_blocks=1, dec_blocks=(1, 1, 1, 1),
                    condition_planes=CONDITION_PLANES),
        "CPU-friendly and kernel-aware: takes the estimated blur (defocus + astigmatism) as input; "
        "for strong defocus and anything unknown",
    ),
    # Restore by the physics: exact data steps with the identified spot, a MIDNet prior between them.
    "midnet-hqs": Preset(
        ModelConfig(architecture=Architecture.PHYSICS, width=16, enc_blocks=(1, 1, 1, 2), middle_blocks=1,
                    dec_blocks=(1, 1, 1, 1), condition_planes=CONDITION_PLANES, stages=3),
        "by the physics: 3 exact deconvolution steps with the identified spot, a MIDNet prior between them; "
        "for light blur, clean (16-bit, frame-averaged) frames and a spot you know; about 5x slower",
    ),
    "nafnet": Preset(
        ModelConfig(attention_gates=False), "paper backbone without attention gates (ablation)"
    ),
    # The seed architectures (../shared/seeds), kernel-aware like the default so that the
    # comparison is fair; widths sized so each trains in the same CPU budget (README).
    "srn": Preset(
        ModelConfig(architecture=Architecture.SRN, width=16, middle_blocks=16, condition_planes=CONDITION_PLANES,
                    **SINGLE_BODY),
        "single-scale refocusing network, 16 residual blocks (Discriminative refocusing of SEM images)",
    ),
    "mrn": Preset(
        ModelConfig(architecture=Architecture.MRN, width=16, middle_blocks=8, condition_planes=CONDITION_PLANES,
                    **SINGLE_BODY),
        "multi-scale refocusing network: three SRNs, coarse to fine (Discriminative refocusing of SEM images)",
    ),
    "mstsgm": Preset(
        ModelConfig(architecture=Architecture.MSTSGM, width=16, enc_blocks=(2, 2, 2), middle_blocks=1,
                    dec_blocks=(2, 2, 2), attention_gates=False, condition_planes=CONDITION_PLANES),
        "MIMO-UNet with feature decoupling, scan-line TCN and edge attention (Pei et al., MSTSGM)",
    ),
    "meddeblur": Preset(
        ModelConfig(architecture=Architecture.MEDDEBLUR, width=12, enc_blocks=(1, 1, 1), middle_blocks=0,
                    dec_blocks=(1, 1, 1), attention_gates=False, condition_planes=CONDITION_PLANES),
        "scale-recurrent network of RD-SAM blocks with a ConvLSTM (Sharif et al., MedDeblur)",
    ),
}

DEFAULT_MODEL = "midnet-s-psf"  # kernel-aware CPU default; the README says how it was trained and how it does


def export_refusal(name: str, config: ModelConfig, trained: bool) -> str:
    """Why a model cannot become a bioimage.io package, in one sentence ("" if it can): asked by
    the export itself and, before any dialog, by the dock (without loading the model)."""
    if not trained:
        return (f"{name} is untrained (no weights ship for this preset): its package would restore nothing; "
                "export weights that were trained or fine-tuned")
    if config.architecture != Architecture.MIDNET:
        return (f"{name} is built on the {config.architecture.upper()} architecture; bioimage.io export is for "
                "the MIDNet family (midnet, midnet-s, nafnet and models fine-tuned from them)")
    if config.kernel_aware:
        return (f"{name} is kernel-aware: it takes the blur estimated by napari-midnet as {config.condition_planes} "
                "extra input planes, which other bioimage.io tools cannot compute; export a blind model "
                "(e.g. midnet-s) instead")
    return ""
