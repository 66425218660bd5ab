"""Write the bundled model (src/waifugan/bundled/) from a finished training run.

    python tools/make_bundled_model.py RUN_DIR --tagger TAGGER.safetensors \
        [--fid10k X] [--hardware TEXT] [--command TEXT] [--command-note TEXT]
        [--before-kimg K --before-hours H]
        [--rate TEXT]

Writes adventurer64.safetensors (the newest valid checkpoint's G_ema), adventurer64.D.safetensors
(its D, so `train --init` fine-tunes both), adventurer64.tagger.safetensors (a copy of the
tagger) and adventurer64.md, the model card: data and licence credit, the training command,
kimg, wall time (summed from stats.jsonl), hardware, FID and the config the test compares.
A run that continued an earlier model through `--init` (its counters start at zero) names that
model's kimg and hours with --before-kimg / --before-hours; the card gives the totals.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from statistics import median_high

from waifugan.bundled import CREDIT, bundled_card_path, bundled_model_path
from waifugan.export import load_generator
from waifugan.networks.discriminator import Discriminator, DiscriminatorConfig
from waifugan.networks.model_file import (
    discriminator_path,
    save_discriminator,
    save_model,
    tagger_path,
)
from waifugan.train.rundir import latest_valid_checkpoint


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--tagger", type=Path, required=True)
    parser.add_argument("--fid10k", default="not measured", help="FID-10k vs the training set")
    parser.add_argument("--fid2k", default="not measured", help="FID-2k vs the training set")
    parser.add_argument("--hardware", default="2 CPU cores (x86_64, AVX2), no GPU")
    parser.add_argument("--command", default=None, help="the command as typed (else rebuilt)")
    parser.add_argument(
        "--command-note", default="",
        help="a remark on the command, printed after its code span so the command copies cleanly "
        "(e.g. 'the last of eight segments')",
    )  # fmt: skip
    parser.add_argument("--notes", default="", help="extra lines for the card")
    parser.add_argument("--before-kimg", type=float, default=0.0, help="kimg of the --init model")
    parser.add_argument("--before-hours", type=float, default=0.0, help="its hours of training")
    parser.add_argument(
        "--rate", default=None,
        help="the median rate as text for the card, e.g. '20.8 img/s in the last segment' "
        "(default: 'N img/s' from this run's stats.jsonl, which holds only the last segment of a "
        "run continued with --init)",
    )  # fmt: skip
    args = parser.parse_args()

    found = latest_valid_checkpoint(args.run_dir)
    if found is None:
        raise SystemExit(f"{args.run_dir}: no valid checkpoint")
    ckpt_path, state = found
    options = state["options"]
    G = load_generator(ckpt_path)
    model = bundled_model_path()
    kimg = args.before_kimg + state["cur_nimg"] / 1000
    extra = {"source": ckpt_path.name, "kimg": kimg, "credit": CREDIT}
    save_model(G, model, extra=extra)
    D = Discriminator(DiscriminatorConfig(**options["D"]))
    D.load_state_dict(state["D"])
    save_discriminator(D, discriminator_path(model), extra=extra)
    tagger = tagger_path(model)  # where cards.tagger_beside finds it
    if Path(args.tagger).resolve() != tagger.resolve():  # re-bundling keeps the tagger in place
        shutil.copyfile(args.tagger, tagger)

    ticks = [json.loads(line) for line in (args.run_dir / "stats.jsonl").read_text().splitlines()]
    hours = args.before_hours + sum(t.get("sec_per_tick", 0.0) for t in ticks) / 3600
    img_per_s = [t["img_per_s"] for t in ticks if "img_per_s" in t]
    command = args.command or (
        f"waifugan train --data adv64.zip --preset {options['preset']} "
        f"{'--mirror ' if options.get('mirror') else ''}--kimg {options['kimg']:g}"
    )
    card = CARD.format(
        credit=CREDIT, command=command, kimg=kimg, hours=hours,
        command_note=f"{args.command_note}; " if args.command_note else "", prepare=PREPARE,
        rate=args.rate or f"{median_high(img_per_s) if img_per_s else 0.0:.1f} img/s",
        hardware=args.hardware, fid10k=args.fid10k, fid2k=args.fid2k,
        params=sum(p.numel() for p in G.parameters()), notes=args.notes,
        config=json.dumps(G.cfg.to_dict(), indent=2), options=json.dumps(options, indent=2),
    )  # fmt: skip
    bundled_card_path().write_text(card)
    for path in sorted(model.parent.glob("adventurer64*")):
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


PREPARE = (  # one line on the card, so it copies cleanly
    "waifugan prepare ../shared/data/adventurer-train-128.zip"
    " -o adv64.zip --resolution 64 --no-detect"
)
CARD = """# adventurer64 — the model in the box

A StyleGAN2 generator (64 px) trained by waifugan itself on the shared adventurer set. Commands
that take a MODEL use it when none is given; `waifugan.load()` returns it.

- **Data**: 10,000 illustrated faces (9,957 after prepare's filters and deduplication), 64x64,
  x-flips added (`--mirror`). {credit}. Credit it wherever this model or its images are shown.
- **Command**: `{command}` ({command_note}after
  `{prepare}`)
- **Trained**: {kimg:.1f} kimg in {hours:.2f} h of wall time, median {rate}
- **Hardware**: {hardware}
- **Parameters**: G {params:,} (the file also holds w_avg; D and the tagger lie beside it)
- **FID** (ψ = 1, against the training set, waifugan's Inception-v3 2015-12-05 features):
  FID-10k {fid10k}; FID-2k {fid2k}
- **Files**: `adventurer64.safetensors` (G_ema), `adventurer64.D.safetensors` (D, for
  `train --init`), `adventurer64.tagger.safetensors` (the character cards' tagger).
{notes}
## Generator config

```json
{config}
```

## Training options

```json
{options}
```
"""


if __name__ == "__main__":
    raise SystemExit(main())
