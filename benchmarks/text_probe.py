"""Does a DiT use its text? x0 error on cached training clips with their own, another and the null caption.

    python benchmarks/text_probe.py MODEL_DIR CACHE_DIR [--num 16]

MODEL_DIR is a model folder (e.g. runs/world/dit/export), CACHE_DIR the latent cache it was trained from
(e.g. runs/world/dit/cache). For each flow time t the clips are noised with one fixed noise and the DiT's
clean-latent prediction x0 = x_t - t v is compared with the truth; beside it stands the error of predicting
the clips' mean latent, what a model that knows nothing can do. A model that follows its text has a lower
error with the own caption than with another clip's or the null one, most of all at t = 1, where the text is
the only information. The baseline is the null caption, measured in the same run; the device is printed.
"""

from __future__ import annotations

import argparse

import torch

from tessera.machine import device_name
from tessera.train.latent_cache import LatentCache
from tessera.weights import load_model_dir

TIMES = (1.0, 0.99, 0.98, 0.95, 0.9, 0.7)


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("cache")
    ap.add_argument("--num", type=int, default=16, help="clips (the cache's first N)")
    args = ap.parse_args()
    dit, _, _ = load_model_dir(args.model)
    cache = LatentCache(args.cache)
    first = cache.clips[0]["bucket"]  # latents are stored per bucket: probe clips of one geometry
    clips = [c for c, clip in enumerate(cache.clips) if clip["bucket"] == first][: args.num]
    x0 = cache.latent_batch(clips).float()  # (N, C, T, h, w)
    own = [cache.clips[c]["captions"][0] for c in clips]
    captions = {"own": own, "other": own[1:] + own[:1], "null": [None] * len(clips)}
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    print(f"device: {device_name('cpu')}; model: {args.model}; clips: {len(clips)}")
    # What knowing nothing costs: every clip predicted as the mean of these clips (in-sample, so a floor
    # that favours it). At t = 1 a DiT that uses its text beats it; one that does not is at best equal.
    mean_err = (x0 - x0.mean(0, keepdim=True)).pow(2).mean().item()
    print(f"x0 MSE of predicting the clips' mean latent at every t: {mean_err:.4f}")
    print("| t | x0 MSE own | other | null | own vs null prediction MSE |\n| --- | --- | --- | --- | --- |")
    for t in TIMES:
        x_t = (1 - t) * x0 + t * noise
        times = torch.full((len(clips),), t * 1000.0)
        preds = {}
        for name, ids in captions.items():
            text = cache.text_batch(ids)
            preds[name] = x_t - t * dit(x_t, times, text.tokens, text.mask)
        err = {name: (p - x0).pow(2).mean().item() for name, p in preds.items()}
        gap = (preds["own"] - preds["null"]).pow(2).mean().item()
        print(f"| {t} | {err['own']:.4f} | {err['other']:.4f} | {err['null']:.4f} | {gap:.5f} |")


if __name__ == "__main__":
    main()
