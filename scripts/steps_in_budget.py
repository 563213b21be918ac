"""How many training steps of PRESET fit a CPU budget: times full training steps (crop 128,
batch 8, the condition planes, the multi-scale loss) of a fresh network on this machine and
divides. The seed architectures get the same budget each (scripts/train_recipe.py).
Steps are timed in process CPU seconds, so another process sharing the cores does not shrink
the budget; the budget is MINUTES of all this machine's cores.

Usage: python scripts/steps_in_budget.py PRESET [--minutes 6] [--crop 128] [--batch 8]
"""

import argparse
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from napari_midnet.models.nets import build_model  # noqa: E402
from napari_midnet.training.losses import multiscale_loss  # noqa: E402

DATA_SHARE = 0.05  # an allowance for sampling the crops, validation and checkpoints (same for all)


def cpu_seconds_per_step(preset: str, crop: int, batch: int, repeats: int = 4) -> float:
    model = build_model(preset).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    inputs = torch.rand(batch, 1 + model.config.condition_planes, crop, crop)
    targets = torch.rand(batch, 1, crop, crop)
    times = []
    for _ in range(repeats + 1):  # the first warms up
        start = time.process_time()
        loss = multiscale_loss(model.forward_scales(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.process_time() - start)
    return min(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset")
    parser.add_argument("--minutes", type=float, default=6.0, help="minutes of all this machine's cores")
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    step = cpu_seconds_per_step(args.preset, args.crop, args.batch) * (1 + DATA_SHARE)
    print(int(60 * args.minutes * torch.get_num_threads() / step))


if __name__ == "__main__":
    main()
