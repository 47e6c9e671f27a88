"""The task feeds: addition and char-LM training through the one loop, exact match, resume."""

import pytest
import torch

from radgrok.experiments.presets import get_preset
from radgrok.models.gpt import GPT
from radgrok.runs import records
from radgrok.runs.config import ConfigError, RunConfig, validate
from radgrok.tasks.addition import TOKENIZER, exact_match_accuracy, make_addition
from radgrok.training.feeds import AdditionFeed, _loss_and_exact_match
from radgrok.training.loop import build, train

ADD = dict(task="addition", arch="gpt", width=32, depth=1, n_heads=2, n_digits=2, train_pairs=300, test_pairs=100,
           batch_size=64, lr=3e-3, weight_decay=0.1, steps=40, eval_every=10, checkpoint_every=10,
           early_stop=False, lam=0.01, probe_size=32)
TEXT = dict(task="text", arch="gpt", width=32, depth=1, n_heads=2, block_size=16, eval_windows=8,
            batch_size=16, lr=3e-3, steps=40, eval_every=20, early_stop=False, lam=0.01, probe_size=8)


class _WrongWhenOddOracle(torch.nn.Module):
    """A causal 'model' that answers right unless operand a is odd, then errs on the 2nd answer digit.

    Its output at a position depends only on that position's prefix (it reads the
    prompt and counts tokens since '='), as a causal LM's must.
    """

    def __init__(self, n_digits: int, fmt: str) -> None:
        super().__init__()
        self.n, self.fmt = n_digits, fmt

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        b, t = idx.shape
        logits = torch.zeros(b, t, TOKENIZER.vocab_size)
        plen = 2 * self.n + 3
        for r in range(b):
            row = idx[r].tolist()
            if t < plen:
                continue
            a = int("".join(map(str, row[1:1 + self.n])))
            c = int("".join(map(str, row[2 + self.n:2 + 2 * self.n])))
            ans = str(a + c)[::-1] if self.fmt == "reversed" else str(a + c)
            target = TOKENIZER.encode(ans + ";")
            for pos in range(plen - 1, t):
                k = pos - (plen - 1)  # answer token k is predicted at position plen - 1 + k
                if k < len(target):
                    tok = target[k]
                    if a % 2 == 1 and k == 1:
                        tok = (tok + 1) % 10
                    logits[r, pos, tok] = 1.0
        return logits


@pytest.mark.parametrize("fmt", ["plain", "reversed"])
def test_teacher_forced_exact_match_equals_generation(fmt):
    data = make_addition(2, fmt, n_train=60, n_test=40, split_seed=3)
    oracle = _WrongWhenOddOracle(2, fmt)
    gen = exact_match_accuracy(oracle, data.prompts("test"), data.answers("test"))
    _, tf = _loss_and_exact_match(oracle, data.lm_tensors("test"))
    odd = float((data.test_pairs[:, 0] % 2 == 1).double().mean())
    # every answer has >= 2 tokens (a digit and ';'), so odd a always fails
    assert gen == pytest.approx(1 - odd) and tf == gen and 0 < gen < 1


def test_teacher_forced_exact_match_equals_generation_on_a_trained_gpt():
    from radgrok.tasks.lm import lm_loss

    data = make_addition(2, "reversed", n_train=300, n_test=100, split_seed=0)
    torch.manual_seed(0)
    model = GPT(vocab_size=TOKENIZER.vocab_size, block_size=data.block_size, n_layer=1, n_head=2, n_embd=32)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    lm = data.lm_tensors("train")
    for _ in range(250):  # partly trained: some answers right, some wrong
        opt.zero_grad()
        lm_loss(model(lm.x), lm.y).backward()
        opt.step()
    model.eval()
    accs = []
    for split in ("train", "test"):
        gen = data.exact_match(model, split)
        _, tf = _loss_and_exact_match(model, data.lm_tensors(split))
        assert tf == gen
        accs.append(gen)
    assert any(0 < a < 1 for a in accs), accs


def test_addition_run_records_exact_match_and_penalty_sites(tmp_path):
    s = train(RunConfig().replace(**ADD), tmp_path / "r", progress=False)
    rows = records.read_jsonl(tmp_path / "r" / records.METRICS)
    assert s["task"] == "addition" and [r["step"] for r in rows] == [0, 10, 20, 30, 40]
    last = rows[-1]
    for site in ("blocks.0.hook_attn_out", "blocks.0.hook_mlp_out"):
        assert f"radius/{site}" in last and f"phi_task/{site}" in last
    assert last["train_loss"] < rows[0]["train_loss"]  # it learns
    assert last["penalty"] == pytest.approx(0.01 * last["penalty_raw"])
    split = records.read_json(tmp_path / "r" / records.SPLIT)
    assert split["task"] == "addition" and split["n_train"] == 300
    assert not ({tuple(p) for p in split["train_pairs"]} & {tuple(p) for p in build(
        RunConfig().replace(**ADD)).data.test_pairs.tolist()})


def test_addition_resume_is_exact(tmp_path):
    cfg = RunConfig().replace(**ADD)
    full = train(cfg, tmp_path / "full", progress=False)
    train(cfg, tmp_path / "cut", progress=False, stop_after_steps=20)
    resumed = train(cfg, tmp_path / "cut", resume=True, progress=False)
    strip = lambda rows: [{k: v for k, v in r.items()} for r in rows]  # noqa: E731
    assert strip(records.read_jsonl(tmp_path / "full" / records.METRICS)) == strip(
        records.read_jsonl(tmp_path / "cut" / records.METRICS))
    assert full["final"] == resumed["final"]


def test_text_run_learns_and_logs_held_out_loss(tmp_path):
    s = train(RunConfig().replace(**TEXT), tmp_path / "t", progress=False)
    rows = records.read_jsonl(tmp_path / "t" / records.METRICS)
    assert s["task"] == "text" and rows[-1]["test_loss"] < rows[0]["test_loss"]
    assert "radius/blocks.0.hook_mlp_out" in rows[-1]


def test_text_run_reads_a_user_file(tmp_path):
    f = tmp_path / "corpus.txt"
    f.write_text("abcabcabd " * 200, encoding="utf-8")
    cfg = RunConfig().replace(**{**TEXT, "text_path": str(f), "steps": 20})
    s = train(cfg, None, progress=False)
    assert s["final"]["test_loss"] < 1.609  # below the uniform guess over 5 symbols (log 5)
    assert build(cfg).data.tokenizer.vocab_size == 5


@pytest.mark.parametrize("kw, field", [
    (dict(task="addition"), "arch"),
    (dict(task="modular", arch="gpt"), "arch"),
    (dict(task="addition", arch="gpt", loss="stablemax"), "loss"),
    (dict(task="addition", arch="gpt", n_digits=0), "n_digits"),
    (dict(task="addition", arch="gpt", n_digits=1, train_pairs=90, test_pairs=20), "test_pairs"),
    (dict(task="text", arch="gpt", text_path="/no/such/file.txt"), "text_path"),
])
def test_bad_lm_config_names_the_field(kw, field):
    with pytest.raises(ConfigError, match=f"^{field} "):
        validate(RunConfig().replace(**kw))


@pytest.mark.parametrize("name", ["paper-nanogpt", "cpu-nanogpt", "paper-charlm", "cpu-charlm",
                                  "paper-transformer", "cpu-transformer"])
def test_lm_and_transformer_presets_validate(name):
    cfg = validate(get_preset(name))
    assert ("nanogpt" in name) == (cfg.task.task == "addition")
    assert ("charlm" in name) == (cfg.task.task == "text")


def test_paper_nanogpt_has_the_papers_size():
    b = build(get_preset("paper-nanogpt").replace(train_pairs=10, test_pairs=10))
    n = sum(p.numel() for p in b.model.parameters())
    assert 10.0e6 < n < 11.0e6 and b.rs.lam == 0.01


def test_addition_feed_batches_depend_on_seed_and_step_only():
    cfg = RunConfig().replace(**ADD)
    b = build(cfg)
    f1, f2 = AdditionFeed(b.data, b.device, 64, 0), AdditionFeed(b.data, b.device, 64, 0)
    assert torch.equal(f1.train_batch(7)[0], f2.train_batch(7)[0])
    assert not torch.equal(f1.train_batch(7)[0], f1.train_batch(8)[0])
