"""Radial suppression in a plain PyTorch loop, on a model radgrok knows nothing about.

The model is torch's own ``nn.TransformerEncoder`` learning (a + b) mod p from pairs of
tokens; the penalty hooks its two encoder layers by name. After training, the
diagnostics measure each layer's radius and Φ̃_rad (the radial share of the task
gradient; 1 is the isotropic floor) on the same foreign model.

    python examples/own_loop.py            # 1,500 full-batch steps
    python examples/own_loop.py --smoke    # 20 steps, to check that it runs
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn

from radgrok import RadialSuppression
from radgrok.diagnostics import capture_hidden_grads_multi, radial_energies, radius_summary


class PairClassifier(nn.Module):
    """Embed (a, b), two encoder layers, mean over the two positions, classify."""

    def __init__(self, p: int, d: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(p, d)
        layer = nn.TransformerEncoderLayer(d, nhead=4, dim_feedforward=4 * d, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.head = nn.Linear(d, p)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(pairs)).mean(dim=1))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="a few steps, to check that it runs")
    ap.add_argument("--steps", type=int, default=1500)
    args = ap.parse_args(argv)
    steps = 20 if args.smoke else args.steps

    torch.manual_seed(0)
    p = 23
    a, b = torch.cartesian_prod(torch.arange(p), torch.arange(p)).T
    pairs, labels = torch.stack([a, b], dim=1), (a + b) % p
    order = torch.randperm(len(labels))
    train, test = order[: len(order) // 2], order[len(order) // 2:]
    model = PairClassifier(p)

    # --8<-- [start:own_loop]
    sites = ["encoder.layers.0", "encoder.layers.1"]   # names from model.named_modules()
    rs = RadialSuppression(model, sites, lam=0.05)     # norm_over="example", reduce="mean"
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    for _ in range(steps):
        logits = model(pairs[train])
        loss = F.cross_entropy(logits, labels[train]) + rs.penalty()
        opt.zero_grad()
        loss.backward()
        opt.step()
    print("radii:", rs.radii())                        # mean ||h|| per hooked layer, latest forward

    # Φ̃_rad of the task gradient and of task + penalty, from one forward
    def losses():
        task = F.cross_entropy(model(pairs[train]), labels[train])
        return {"task": task, "total": task + rs.penalty()}

    caught = capture_hidden_grads_multi(model, sites, losses)  # gradients at h include the penalty's
    print("phi_rad (task):", radial_energies(caught["task"]))
    print("radius / sqrt(d):", {s: radius_summary(h)["mean_over_sqrt_d"] for s, (h, _) in caught["task"].items()})
    rs.remove()                                        # the model is exactly as before
    # --8<-- [end:own_loop]

    with torch.no_grad():
        acc = (model(pairs[test]).argmax(-1) == labels[test]).float().mean()
    print(f"steps {steps}  train loss {loss.item():.4f}  test accuracy {acc.item():.3f}")


if __name__ == "__main__":
    main()
