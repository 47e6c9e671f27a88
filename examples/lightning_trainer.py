"""Radial suppression, ⊥Grad and the radial diagnostics in a ``lightning.Trainer``.

An ordinary LightningModule wrapping a foreign MLP learns (a + b) mod p from one-hot
pairs. The radgrok callback hooks the MLP's hidden activations for the fit, runs ⊥Grad
before each optimizer step and logs ``radgrok/penalty``, radii and Φ̃_rad with
``self.log``; the module's ``training_step`` adds the penalty in one visible line.

    python examples/lightning_trainer.py           # 400 steps, CSV logs in lightning-out/
    python examples/lightning_trainer.py --smoke   # 10 steps, to check that it runs

(Not named ``lightning.py``: run as a script, that file would shadow the ``lightning`` package.)
"""

from __future__ import annotations

import argparse
import tempfile

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import CSVLogger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

# --8<-- [start:lightning]
from radgrok.integrations import RadgrokOptions
from radgrok.integrations.lightning import RadgrokLightningCallback, radgrok_penalty


class Classifier(pl.LightningModule):
    def __init__(self, p: int, width: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2 * p, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, p))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self.net(x), y) + radgrok_penalty(self)   # the one radgrok line
        self.log("train_loss", loss)
        return loss

    def radgrok_task_loss(self, batch):      # optional: lets the callback log Φ̃_rad
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=1e-3, weight_decay=1e-2)


radgrok = RadgrokLightningCallback(RadgrokOptions(
    sites=["net.1", "net.3"],                # the two ReLU outputs
    lam=0.05, norm_over="batch", reduce="mean",
    orthograd=True,
))
# trainer = pl.Trainer(callbacks=[radgrok], ...); trainer.fit(Classifier(p), loader)
# --8<-- [end:lightning]


def modular_pairs(p: int) -> TensorDataset:
    """Every (a, b) as two concatenated one-hots, labelled (a + b) mod p."""
    a, b = torch.cartesian_prod(torch.arange(p), torch.arange(p)).T
    x = torch.cat([F.one_hot(a, p), F.one_hot(b, p)], dim=1).float()
    return TensorDataset(x, (a + b) % p)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="a few steps, to check that it runs")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--out", default=None, help="CSV log folder (default: a temporary directory)")
    args = ap.parse_args(argv)
    steps = 10 if args.smoke else args.steps
    out = args.out or tempfile.mkdtemp(prefix="radgrok-lightning-")

    pl.seed_everything(0, verbose=False)
    p = 23
    loader = DataLoader(modular_pairs(p), batch_size=64, shuffle=True)
    trainer = pl.Trainer(accelerator="cpu", max_steps=steps, callbacks=[radgrok], logger=CSVLogger(out),
                         log_every_n_steps=5, enable_checkpointing=not args.smoke, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=out)
    trainer.fit(Classifier(p), loader)
    shown = {k: round(float(v), 4) for k, v in trainer.callback_metrics.items() if k.startswith(("radgrok/", "train"))}
    print(f"step {trainer.global_step}: {shown}")


if __name__ == "__main__":
    main()
