"""Markdown tables (README, closing notes) from the JSON of `scripts/check_blind_model.py --json`.

Usage: python scripts/checks_table.py [--compare] CHECKS.json [CHECKS.json ...]   (models side by side)
--compare: one row per model (the architecture comparison); a shipped preset's name instead of a
file reads the checks from its weights' card.
"""

import json
import sys
from pathlib import Path


def cell(scores: dict | None) -> str:
    if not scores:
        return "–"
    return f"{scores['psnr']:.2f} / {scores['ssim']:.3f} / ×{scores['contrast']:.2f}"


def main(paths: list[Path]) -> None:
    reports = {}
    for path in paths:
        reports.update(json.loads(path.read_text()))
    names = list(reports)
    first = reports[names[0]]
    print("PSNR dB / SSIM / contrast (output std over reference std)\n")
    print("| | input | Wiener (oracle) | " + " | ".join(f"{n} auto | {n} given" for n in names) + " |")
    print("|---" * (3 + 2 * len(names)) + "|")
    for frame in first["real_pairs"]["auto"]["images"]:
        scores = first["real_pairs"]["auto"]["images"][frame]
        row = [f"real {frame}", cell(scores["input"]), cell(scores["wiener"])]
        for name in names:
            real = reports[name]["real_pairs"]
            row.append(cell(real["auto"]["images"][frame]["output"]))
            row.append(cell(real.get("given", {}).get("images", {}).get(frame, {}).get("output")))
        print("| " + " | ".join(row) + " |")
    for check, title in (("other_instrument", "other instrument"), ("light_blur", "light blur")):
        for label, scores in first.get(check, {}).items():
            row = [f"{title}, {label}", cell(scores["auto"]["input"]), cell(scores["auto"]["wiener"])]
            for name in names:
                case = reports[name].get(check, {}).get(label, {})  # older reports lack the light-blur check
                row += [cell(case.get("auto", {}).get("output")), cell(case.get("given", {}).get("output"))]
            print("| " + " | ".join(row) + " |")
    zeiss = first["zeiss_sample"]
    row = ["bundled Zeiss sample", cell(zeiss["input"]), cell(zeiss["wiener"])]
    for name in names:
        row += [cell(reports[name]["zeiss_sample"]["output"]), "–"]
    print("| " + " | ".join(row) + " |")
    print("\nDo no harm (a sharp image in, PSNR of the output against it) and the half-sharp frames:\n")
    print("| | " + " | ".join(names) + " |")
    print("|---" * (1 + len(names)) + "|")
    for image in first["do_no_harm"]:
        print(f"| {image} | " + " | ".join(f"{reports[n]['do_no_harm'][image]['psnr']:.2f}" for n in names) + " |")
    worst = [min(s["psnr"] for s in reports[n]["do_no_harm"].values()) for n in names]
    print("| **worst** | " + " | ".join(f"**{w:.2f}**" for w in worst) + " |")
    print("| half-sharp frames, the sharp half | "
          + " | ".join(f"{reports[n]['half_sharp']['output']['psnr']:.2f}" for n in names) + " |")
    print("| parameters | " + " | ".join(f"{reports[n]['parameters'] / 1e6:.2f} M" for n in names) + " |")
    print("| seconds for 1280 × 1024 (2 CPU cores) | "
          + " | ".join(f"{reports[n]['seconds_1280x1024']:.1f}" for n in names) + " |")


COMPARISON = ("model", "parameters", "GMAC/Mpx", "s/frame", "frame4 dB / SSIM", "frame6 dB / SSIM",
              "do-no-harm worst dB", "other instrument mean dB", "Zeiss sample dB", "half-sharp dB")


def comparison_row(name: str, report: dict) -> list[str]:
    """One model's line of the architecture comparison (the estimated blur, 'auto', throughout)."""
    real = report["real_pairs"]["auto"]["images"]
    frames = [f"{real[f]['output']['psnr']:.2f} / {real[f]['output']['ssim']:.3f}" if f in real else "–"
              for f in ("frame4", "frame6")]
    other = [scores["auto"]["output"]["psnr"] for scores in report["other_instrument"].values()]
    macs = report.get("macs_per_megapixel")
    return [name, f"{report['parameters'] / 1e6:.2f} M", f"{macs / 1e9:.0f}" if macs else "–",
            f"{report['seconds_1280x1024']:.1f}", *frames,
            f"{min(s['psnr'] for s in report['do_no_harm'].values()):.2f}", f"{sum(other) / len(other):.2f}",
            f"{report['zeiss_sample']['output']['psnr']:.2f}", f"{report['half_sharp']['output']['psnr']:.2f}"]


def input_row(report: dict) -> list[str]:
    real = report["real_pairs"]["auto"]["images"]
    frames = [f"{real[f]['input']['psnr']:.2f} / {real[f]['input']['ssim']:.3f}" if f in real else "–"
              for f in ("frame4", "frame6")]
    other = [scores["auto"]["input"]["psnr"] for scores in report["other_instrument"].values()]
    return ["(the blurred input)", "", "", "", *frames, "", f"{sum(other) / len(other):.2f}",
            f"{report['zeiss_sample']['input']['psnr']:.2f}", ""]


def read_reports(sources: list[str]) -> dict:
    """Checks by model: JSON files of check_blind_model.py, or shipped presets' cards."""
    reports = {}
    for source in sources:
        if Path(source).is_file():
            reports.update(json.loads(Path(source).read_text()))
        else:
            from napari_midnet.models.loader import load_model
            from napari_midnet.models.nets import macs_per_megapixel

            loaded = load_model(source)
            checks = dict(loaded.card["checks"])
            checks.pop("command", None)
            (report,) = checks.values()
            reports[source] = {"macs_per_megapixel": macs_per_megapixel(loaded.model), **report}
    return reports


def compare(sources: list[str]) -> None:
    reports = read_reports(sources)
    print("| " + " | ".join(COMPARISON) + " |")
    print("|---" * len(COMPARISON) + "|")
    for row in [input_row(next(iter(reports.values())))] + [comparison_row(n, r) for n, r in reports.items()]:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--compare"]:
        compare(sys.argv[2:])
    else:
        main([Path(arg) for arg in sys.argv[1:]])
