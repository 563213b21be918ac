"""Write resources/PRESET.safetensors (fp16) from a training run, adding to its model card the
data sources with their licences, the simulator's calibration, the checks and (kernel-aware
models) how the blur is estimated and how well.

Usage: python scripts/ship_weights.py RUNS_DIR CALIBRATION_JSON [PRESET]
       python scripts/ship_weights.py --update-checks PRESET CHECKS_JSON [ESTIMATOR_JSON]
                                      (re-measured checks and estimator accuracy, same tensors)
(RUNS_DIR holds PRESET.safetensors and PRESET-checks.json from scripts/train_recipe.py,
and for a kernel-aware PRESET blur-estimator.json from scripts/train_blur_estimator.py;
CALIBRATION_JSON is `python scripts/calibrate_simulator.py ../shared/data/midnet-pairs --json`.)
"""

import json
import sys
from pathlib import Path

from napari_midnet.models.loader import load_model
from napari_midnet.models.weights import save_weights

DATA_SOURCES = [
    {"name": "midnet-pairs", "what": "6 real JEOL SEM blurry/sharp frame pairs (1280x1024), registered; "
     "frames 1, 2, 3, 5 trained on (as pairs and, blurred by the simulator, as sharp images); 4 and 6 held out",
     "origin": "Wang et al., MIDNet, CMC 79(1) 2024 (github woshigui/MIDNet)",
     "licence": "none stated: used for training and validation only, not redistributed"},
    {"name": "nasa-micronet-sem", "what": "44 Ni-superalloy and coating SEM images", "origin":
     "nasa/pretrained-microscopy-models (Stuckner et al., npj Comput Mater 2022)", "licence": "MIT"},
    {"name": "sem2surface-nova450", "what": "9 FEI Nova NanoSEM 450 16-bit BSE images",
     "origin": "vyastreb/sem2surface", "licence": "BSD-3-Clause"},
    {"name": "fibresem-zeiss-auriga", "what": "2 Zeiss Auriga SE2 fibre-mesh images", "origin": "dvtxc/fibresem",
     "licence": "MIT"},
    {"name": "openfibsem-helios-pfib", "what": "4 Thermo Helios G4 PFIB images", "origin": "DeMarcoLab/fibsem",
     "licence": "MIT"},
    {"name": "deepsem-nanowires", "what": "14 nanowire-array SEM images: held out of training (checks only)",
     "origin": "Martin09/DeepSEM", "licence": "MIT"},
]


RECIPES = {
    "midnet-s": "scripts/train_recipe.py (from scratch, one stage: 6000 steps in 128-px crops)",
    "midnet-s-psf": "PRESET=midnet-s-psf scripts/train_recipe.py (from scratch: 4000 steps in 128-px "
                    "crops, lr 1e-3; the condition is the simulator's true spot, or a real pair's fitted one, "
                    "perturbed as blur identification errs, and the crop deconvolved with that spot)",
    "midnet-hqs": "scripts/train_denoiser_prior.py --iterations 2400 (the DPIR form: the MIDNet prior trained "
                  "in 128-px crops only as an SEM denoiser told its noise level, white noise 0.002-0.15 on real "
                  "sharp SEM frames, L1, lr 1e-3 cosine; plugged unchanged into the three exact data steps with the "
                  "identified spot; the end-to-end form, recipes/midnet-hqs.toml, measured worse)",
}
SEED_RECIPE = ("PRESET={preset} scripts/train_recipe.py (from scratch: {steps} steps in 128-px crops, "
               "lr 1e-3, batch 8, as many as 55 minutes of 2 CPU cores allow, the default's budget, which "
               "every seed architecture gets; data, simulator and blur condition as for midnet-s-psf)")
DO_NO_HARM_PSNR = 32.0  # a model scoring below this on a sharp input ships untrained


def checks_entry(preset: str, reports: dict) -> dict:
    """The card's `checks`: the command and its report for this preset, from check_blind_model's JSON
    (keyed by each model as its command line named it: the preset, or RUNS/PRESET.safetensors)."""
    (report,) = (found for named, found in reports.items() if Path(named).stem == preset)
    return {"command": f"python scripts/check_blind_model.py --models {preset} --json <file>", preset: report}


def blur_estimation_entry(report: Path) -> dict:
    """The card's `blur_estimation`: how the blur is estimated and the estimator's accuracy report."""
    return {"how": "napari_midnet.blur.estimate: spectral features of 256-px windows (Welch average for the frame, "
                   "one window per focus-map cell) regressed by an MLP (resources/blur-estimator.npz); readings up "
                   "to 3 px checked against the frame by generalised cross-validation (blur/crossval.py)",
            "command": "python scripts/train_blur_estimator.py --check-only --json <file>",
            "accuracy": json.loads(report.read_text())}


def update_checks(preset: str, checks: Path, estimator: Path | None = None) -> None:
    """Re-measured checks (and, after a change of the blur estimation, its accuracy report) into
    a shipped preset's card; the tensors stay as they are (their sha256 is checked)."""
    shipped = load_model(preset)
    card = dict(shipped.card) | {"checks": checks_entry(preset, json.loads(checks.read_text()))}
    if estimator is not None:
        card["blur_estimation"] = blur_estimation_entry(estimator)
    target = Path(__file__).resolve().parents[1] / "resources" / f"{preset}.safetensors"
    sha = save_weights(shipped.model, target, card, half=True)
    if sha != shipped.sha256:
        sys.exit(f"{preset}: the tensors changed ({sha[:10]} != {shipped.sha256[:10]}); restore the file")
    print(f"updated the checks of {target} (tensors unchanged, sha256 {sha[:10]})")


def main(runs: Path, calibration: Path, preset: str = "midnet-s") -> None:
    final = load_model(runs / f"{preset}.safetensors")
    card = dict(final.card)
    card["preset"] = preset
    card["data_sources"] = DATA_SOURCES
    card["simulator_calibration"] = {
        "command": "python scripts/calibrate_simulator.py ../shared/data/midnet-pairs --json",
        "fits": json.loads(calibration.read_text()),
    }
    card["checks"] = checks_entry(preset, json.loads((runs / f"{preset}-checks.json").read_text()))
    if final.model.config.kernel_aware:
        card["blur_estimation"] = blur_estimation_entry(runs / "blur-estimator.json")
    card["recipe"] = RECIPES.get(preset) or SEED_RECIPE.format(preset=preset, steps=card["training"]["iterations"])
    report = card["checks"][preset]
    worst = min(scores["psnr"] for scores in report["do_no_harm"].values())
    if worst < DO_NO_HARM_PSNR:
        failed = runs / f"{preset}-failed-card.json"
        failed.write_text(json.dumps(card, indent=2))
        sys.exit(f"not shipped: do-no-harm {worst:.2f} dB < {DO_NO_HARM_PSNR} dB; the card is in {failed}")
    target = Path(__file__).resolve().parents[1] / "resources" / f"{preset}.safetensors"
    save_weights(final.model, target, card, half=True)
    print(f"wrote {target}")


if __name__ == "__main__":
    if sys.argv[1] == "--update-checks":  # --update-checks PRESET CHECKS.json [ESTIMATOR.json]
        update_checks(sys.argv[2], Path(sys.argv[3]), *(Path(arg) for arg in sys.argv[4:5]))
    else:
        main(Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:4])
