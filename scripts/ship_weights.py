"""Write resources/midnet-s.safetensors (fp16) from a trained run, adding to its model card the
earlier training stages and the measured evaluation on the held-out frame (input, model, Wiener).

Usage: python scripts/ship_weights.py RUNS_DIR HELD_OUT_NAME
"""

import json
import sys
from pathlib import Path

from napari_midnet.weights import load_model, save_weights


def main(runs: Path, held_out: str) -> None:
    final = load_model(runs / "midnet-s-crop256.safetensors")
    earlier = [load_model(runs / name).card for name in ("midnet-s-synthetic.safetensors", "midnet-s.safetensors")]
    report = json.loads((runs / "evaluate.json").read_text())
    card = dict(final.card)
    card["preset"] = "midnet-s"
    card["earlier_stages"] = [stage["training"] | {"metrics": stage.get("metrics", {})} for stage in earlier]
    card["evaluation"] = {
        "command": "napari-midnet evaluate --pairs <pairs> --model <weights> --wiener --json",
        "region": "registered valid interior, databar excluded; 256-px tiles as napari-midnet deblur runs",
        "held_out_frame": held_out,
        "held_out": report["images"][held_out],
        "all_frames_mean": report["mean"],  # includes the training frames: optimistic
    }
    target = Path(__file__).resolve().parents[1] / "resources" / "midnet-s.safetensors"
    save_weights(final.model, target, card, half=True)
    print(f"wrote {target}")
    print(json.dumps(card["evaluation"]["held_out"], indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
