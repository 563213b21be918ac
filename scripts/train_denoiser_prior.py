"""The cheaper form of restoring by the physics (DPIR, Zhang et al., TPAMI 2021): train the MIDNet
prior of `midnet-hqs` only as an SEM denoiser told its noise level, then plug it unchanged into
the unrolled iterations (models/nets/physics.py). No deblurring is learned at all: each training
step is one prior pass on a noisy crop instead of the unrolled model's three.

Crops of real sharp SEM frames (recipes/data.toml's sharp folders, their own grain kept as the
target) plus white Gaussian noise of a level drawn log-uniformly in [NOISE_MIN, NOISE_MAX]; the
noise-level plane is the level x NOISE_PLANE_SCALE, as the iterations tell it. L1 loss, Adam with
cosine decay. Resumable: a checkpoint every CHECKPOINT_EVERY steps in RUNS/PRESET-dpir/; the result
is a `midnet-hqs` weights file (the data step's weight at DPIR's 0.23) that every check reads.

Usage: python scripts/train_denoiser_prior.py [--data ../shared/data] [--runs runs] [--iterations 3600]
       [--max-minutes 50]
"""

import argparse
import math
import os
import time
import tomllib
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads

import numpy as np
import torch

from napari_midnet.models.nets import build_model
from napari_midnet.models.nets.physics import NOISE_PLANE_SCALE
from napari_midnet.models.weights import save_weights
from napari_midnet.training.loop import take_step
from napari_midnet.training.pairs import load_sharp_folder

PRESET = "midnet-hqs"
NOISE_MIN, NOISE_MAX = 0.002, 0.15  # the stages' levels: the frame's noise up to PRIOR_NOISE_START and past it
CROP, BATCH, LR = 128, 8, 1e-3
CHECKPOINT_EVERY = 100
SEED = 11


def crops(images: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    batch = np.empty((BATCH, 1, CROP, CROP), np.float32)
    for index in range(BATCH):
        image = images[rng.integers(len(images))]
        top, left = rng.integers(image.shape[0] - CROP + 1), rng.integers(image.shape[1] - CROP + 1)
        crop = image[top:top + CROP, left:left + CROP]
        crop = np.rot90(crop[:, ::-1] if rng.random() < 0.5 else crop, rng.integers(4))
        batch[index, 0] = crop
    return batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--iterations", type=int, default=3600)
    parser.add_argument("--max-minutes", type=float, default=50.0)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    data = tomllib.loads((Path(__file__).resolve().parent.parent / "recipes" / "data.toml").read_text())
    images = []
    for folder in data["sharp_only"]:
        for image in load_sharp_folder(args.data / folder):
            if image.name in data["val"]:  # held out of every training
                continue
            top, bottom, left, right = image.valid_box
            if min(bottom - top, right - left) >= CROP:
                images.append(np.ascontiguousarray(image.sharp[top:bottom, left:right], dtype=np.float32))
    print(f"{len(images)} sharp frames", flush=True)

    model = build_model(PRESET)
    prior = model.prior
    optimizer = torch.optim.Adam(prior.parameters(), lr=LR, betas=(0.9, 0.9))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.iterations, eta_min=LR * 1e-3)
    folder = args.runs / f"{PRESET}-dpir"
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = folder / "checkpoint.pt"
    step, rng = 0, np.random.default_rng(SEED)
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        prior.load_state_dict(state["prior"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, rng = state["step"], state["rng"]
        print(f"resumed at step {step}", flush=True)
    deadline = time.monotonic() + 60 * args.max_minutes
    prior.train()
    losses = []
    while step < args.iterations and time.monotonic() < deadline:
        clean = torch.from_numpy(crops(images, rng))
        levels = torch.from_numpy(np.exp(rng.uniform(math.log(NOISE_MIN), math.log(NOISE_MAX), (BATCH, 1, 1, 1)))
                                  .astype(np.float32))
        noisy = clean + levels * torch.from_numpy(rng.standard_normal(clean.shape).astype(np.float32))
        denoised = prior(torch.cat([noisy, (levels * NOISE_PLANE_SCALE).expand_as(noisy)], 1))
        loss = (denoised - clean).abs().mean()
        take_step(loss, prior, optimizer, scheduler)
        step += 1
        losses.append(loss.item())
        if step % 20 == 0:
            print(f"step {step}/{args.iterations} loss {np.mean(losses[-20:]):.4f}", flush=True)
        if step % CHECKPOINT_EVERY == 0 or step == args.iterations:
            torch.save({"prior": prior.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "step": step, "rng": rng}, checkpoint.with_suffix(".tmp"))
            checkpoint.with_suffix(".tmp").replace(checkpoint)
    model.eval()
    out = args.runs / f"{PRESET}-dpir.safetensors"
    save_weights(model, out, {"preset": PRESET, "trained": True,
                              "training": {"crop": CROP, "iterations": step, "kind": "DPIR: the prior as a denoiser",
                                           "noise": [NOISE_MIN, NOISE_MAX], "lr": LR, "batch": BATCH}})
    print(f"wrote {out} ({step} steps)", flush=True)


if __name__ == "__main__":
    main()
