"""Train, check and ship presets from their recipes (`recipes/PRESET.toml`, with the shared data
in `recipes/data.toml`), one after another; resumable: a re-run continues each from its checkpoint.

For each recipe: `napari-midnet train` into RUNS/PRESET.safetensors (skipped when it exists), the
blur estimator's accuracy (kernel-aware presets, once), `scripts/check_blind_model.py`, the
simulator's calibration (once) and `scripts/ship_weights.py`, which writes resources/PRESET.safetensors
with its card. A run that fails is reported and the next recipe goes on.

Usage: python scripts/train_recipe.py recipes/midnet-s-psf.toml [more recipes] [--data ../shared/data] [--runs runs]
       [--train-only]
"""

import argparse
import subprocess
import sys
import tomllib
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
RECIPES = SCRIPTS.parent / "recipes"


def train_command(recipe: dict, data: dict, data_dir: Path, runs: Path, iterations: int) -> list[str]:
    preset = recipe["preset"]
    command = ["napari-midnet", "train", "--pairs", str(data_dir / data["pairs"])]
    for folder in data["sharp_only"]:
        command += ["--sharp-only", str(data_dir / folder)]
    command += ["--val", *data["val"], "--real-fraction", str(data["real_fraction"]), "--preset", preset,
                "--crop", str(recipe["crop"]), "--batch", str(recipe["batch"]), "--lr", str(recipe["lr"]),
                "--iterations", str(iterations), "--seed", str(recipe["seed"]), "--checkpoints", str(runs / preset),
                "--out", str(runs / f"{preset}.safetensors")]
    if "max_minutes" in recipe:  # a wall-clock budget: the run stops there and is saved as it is
        command += ["--max-minutes", str(recipe["max_minutes"])]
    checkpoint = runs / preset / "checkpoint.pt"
    return command + (["--resume", str(checkpoint)] if checkpoint.exists() else [])


def iterations_of(recipe: dict, runs: Path) -> int:
    """The recipe's steps, or those that fit its CPU budget on this machine (fixed at the first run)."""
    if "iterations" in recipe:
        return int(recipe["iterations"])
    budget = runs / recipe["preset"] / "iterations"
    if not budget.exists():
        steps = subprocess.run([sys.executable, str(SCRIPTS / "steps_in_budget.py"), recipe["preset"],
                                "--minutes", str(recipe["budget_minutes"])], check=True, capture_output=True,
                               text=True).stdout.strip()
        budget.write_text(steps)
    return int(budget.read_text())


def run_recipe(path: Path, data_dir: Path, runs: Path, train_only: bool = False) -> None:
    from napari_midnet.models.config import PRESETS

    recipe = tomllib.loads(path.read_text())
    data = tomllib.loads((RECIPES / "data.toml").read_text())
    preset = recipe["preset"]
    (runs / preset).mkdir(parents=True, exist_ok=True)
    if not (runs / f"{preset}.safetensors").exists():
        subprocess.run(train_command(recipe, data, data_dir, runs, iterations_of(recipe, runs)), check=True)
    if train_only:
        return
    if PRESETS[preset].config.kernel_aware and not (runs / "blur-estimator.json").exists():
        subprocess.run([sys.executable, str(SCRIPTS / "train_blur_estimator.py"), "--check-only", "--data",
                        str(data_dir), "--json", str(runs / "blur-estimator.json")], check=True)
    subprocess.run([sys.executable, str(SCRIPTS / "check_blind_model.py"), "--models",
                    str(runs / f"{preset}.safetensors"), "--data", str(data_dir), "--json",
                    str(runs / f"{preset}-checks.json")], check=True)
    calibration = runs / "calibration.json"
    if not calibration.exists():
        found = subprocess.run([sys.executable, str(SCRIPTS / "calibrate_simulator.py"), str(data_dir / data["pairs"]),
                                "--json"], check=True, capture_output=True, text=True).stdout
        calibration.write_text(found)
    subprocess.run([sys.executable, str(SCRIPTS / "ship_weights.py"), str(runs), str(calibration), preset], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipes", nargs="+", type=Path)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--train-only", action="store_true", help="train (or resume) only: no checks, nothing shipped")
    args = parser.parse_args()
    failed = []
    for recipe in args.recipes:
        print(f"=== {recipe}", flush=True)
        try:
            run_recipe(recipe, args.data, args.runs, args.train_only)
        except subprocess.CalledProcessError as error:
            print(f"=== {recipe} failed ({error.returncode})", flush=True)
            failed.append(recipe)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
