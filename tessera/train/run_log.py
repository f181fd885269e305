"""What a training run records: TensorBoard event files, a metrics.jsonl, and a loss-curve PNG."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from tqdm import tqdm

from tessera.config import LoopConfig


def step_bar(desc: str, start: int, loop: LoopConfig, enabled: bool = True) -> tqdm:
    """The steps still to run, from `start` (a resumed run) to loop.steps, as a bar with rate and ETA."""
    return tqdm(
        range(start, loop.steps), desc=desc, unit="step", disable=not enabled, initial=start, total=loop.steps
    )


class RunLog:
    """Scalars per step, to TensorBoard (OUT/tb) and OUT/metrics.jsonl; `plot()` draws OUT/curves.png.

    A run that starts at step `start` (0, or a resumed checkpoint's step) first drops what an earlier,
    interrupted run logged from that step on, so every step appears once and the curves are the run's own.
    """

    def __init__(self, out: str | Path, start: int = 0) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(str(self.out / "tb"), purge_step=start)
        path = self.out / "metrics.jsonl"
        if path.is_file():
            kept = [line for line in path.read_text().splitlines() if json.loads(line)["step"] < start]
            partial = path.with_name(path.name + ".partial")
            partial.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
            partial.replace(path)
        self.jsonl = path.open("a", encoding="utf-8")

    def scalars(self, step: int, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, step)
        self.jsonl.write(json.dumps({"step": step, **values}) + "\n")
        self.jsonl.flush()

    def close(self) -> None:
        self.writer.close()
        self.jsonl.close()

    def plot(self) -> Path:
        """One panel per metric, from metrics.jsonl (so a resumed run's curve is whole)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        series: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for line in (self.out / "metrics.jsonl").read_text().splitlines():
            row = json.loads(line)
            for key, value in row.items():
                if key != "step":
                    series[key].append((row["step"], value))
        names = sorted(series)
        fig, axes = plt.subplots(1, max(1, len(names)), figsize=(4 * max(1, len(names)), 3), squeeze=False)
        for ax, name in zip(axes[0], names, strict=False):
            steps, values = zip(*series[name], strict=True)
            ax.plot(steps, values, lw=1)
            ax.set_title(name)
            ax.set_xlabel("step")
            if name.startswith("loss") and min(values) > 0:
                ax.set_yscale("log")
        fig.tight_layout()
        path = self.out / "curves.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path
