"""Radial suppression, Grokfast and the radial diagnostics in a ``transformers.Trainer``.

A tiny GPT-2 built from a config (random weights, nothing downloaded) learns sequences
that count upwards modulo the vocabulary. ``RadgrokTrainer`` is ``Trainer`` plus one
keyword, ``radgrok=RadgrokOptions(...)``; the logs gain ``radgrok/penalty``, the radius
of each hooked block and Φ̃_rad, wherever the Trainer reports (``report_to``).

    python examples/hf_trainer.py --out hf-out     # 300 steps, checkpoints in hf-out/
    python examples/hf_trainer.py --smoke          # 6 steps, to check that it runs
"""

from __future__ import annotations

import argparse
import os
import tempfile

# Nothing here needs the Hub: the model is built from a config and the data is made here.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel, TrainingArguments  # noqa: E402


def counting_sequences(n: int, length: int, vocab: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """``start, start+step, start+2*step, ...`` modulo ``vocab``: one rule per sequence to infer."""
    g = torch.Generator().manual_seed(seed)
    start = torch.randint(0, vocab, (n, 1), generator=g)
    step = torch.randint(1, 4, (n, 1), generator=g)
    ids = (start + step * torch.arange(length)) % vocab
    return [{"input_ids": x, "labels": x} for x in ids]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="a few steps, to check that it runs")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--out", default=None, help="output_dir for checkpoints (default: a temporary directory)")
    args = ap.parse_args(argv)
    steps = 6 if args.smoke else args.steps
    out = args.out or tempfile.mkdtemp(prefix="radgrok-hf-")

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=64, n_positions=32))
    train = counting_sequences(512, 16, 64)

    training_args = TrainingArguments(
        output_dir=out, max_steps=steps, per_device_train_batch_size=16, learning_rate=1e-3,
        logging_steps=max(1, steps // 10), report_to="none", save_strategy="no" if args.smoke else "steps",
        save_steps=100, use_cpu=True, remove_unused_columns=False, disable_tqdm=True)

    # --8<-- [start:hf]
    from radgrok.integrations import RadgrokOptions
    from radgrok.integrations.hf import RadgrokTrainer

    options = RadgrokOptions(
        sites=["transformer.h.*"],           # each GPT-2 block's output (the residual stream)
        lam=0.05, norm_over="example", reduce="mean",
        grokfast="ema", grokfast_alpha=0.98, grokfast_lamb=2.0,
        diagnostics_every=5,                 # radii and Φ̃_rad at every 5th logging step
    )
    trainer = RadgrokTrainer(model=model, args=training_args, train_dataset=train, radgrok=options)
    trainer.train()                          # or trainer.train(resume_from_checkpoint=True)
    # --8<-- [end:hf]

    for row in trainer.state.log_history:
        if any(k.startswith("radgrok/radius/") for k in row):  # the logging steps with diagnostics
            shown = {k: round(v, 4) for k, v in row.items() if k == "loss" or k.startswith("radgrok/")}
            print(f"step {row['step']}: {shown}")


if __name__ == "__main__":
    main()
