"""train_many must reproduce sequential train() runs seed by seed: rows, milestones, files."""

import math

import pytest
import torch

from radgrok.runs import records
from radgrok.runs.config import ConfigError, RunConfig
from radgrok.runs.grok import GrokTracker
from radgrok.training.loop import train
from radgrok.training.multiseed import train_many

TINY = dict(p=11, train_frac=0.6, width=16, depth=2, steps=60, eval_every=10, checkpoint_every=20,
            early_stop=False)
# One sweep in one batch: per-seed seed, split, lam, weight decay and lr.
SWEEP = [dict(seed=0, lam=0.05, weight_decay=0.1, lr=1e-2),
         dict(seed=1, lam=0.0, weight_decay=1.0, lr=2e-2),
         dict(seed=2, lam=0.5, weight_decay=0.0, lr=1.5e-2, split_seed=7),
         dict(seed=3, lam=0.1, weight_decay=0.01, lr=1e-2)]
F64 = dict(rtol=1e-9, atol=1e-12)
F32 = dict(rtol=1e-4, atol=1e-5)


def sweep(**kw) -> list[RunConfig]:
    return [RunConfig().replace(**{**TINY, **s, **kw}) for s in SWEEP]


def close(a, b, rtol: float, atol: float) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=rtol, abs_tol=atol)
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):  # e.g. fourier_power
        return all(close(x, y, rtol, atol) for x, y in zip(a, b))
    return a == b  # ints, None, lists of key frequencies, strings


def assert_rows_close(got: list[dict], want: list[dict], rtol: float, atol: float) -> None:
    assert [r["step"] for r in got] == [r["step"] for r in want]
    for g, w in zip(got, want):
        assert list(g) == list(w)  # same keys in the same order
        bad = {k: (g[k], w[k]) for k in w if not close(g[k], w[k], rtol, atol)}
        assert not bad, f"step {w['step']}: {bad}"


def assert_summaries_match(got: dict, want: dict, tol: dict) -> None:
    got = {k: v for k, v in got.items() if k != "stacked"}  # train_many's one extra key: seeds in the stack
    assert list(got) == list(want)
    for k in want:
        if k == "final":
            assert all(close(got[k][m], want[k][m], **{"rtol": tol["rtol"], "atol": tol["atol"]}) for m in want[k])
        elif k != "wall_seconds":
            assert got[k] == want[k], k


def run_both(cfgs: list[RunConfig], tmp_path=None) -> tuple[list, list, list, list]:
    """Summaries and metrics rows of train_many and of sequential train(); on disk when tmp_path is given."""
    n = len(cfgs)
    if tmp_path is not None:
        many = train_many(cfgs, [tmp_path / f"many{i}" for i in range(n)], progress=False)
        seq = [train(c, tmp_path / f"seq{i}", progress=False) for i, c in enumerate(cfgs)]
        rows_m = [records.read_jsonl(tmp_path / f"many{i}" / records.METRICS) for i in range(n)]
        rows_s = [records.read_jsonl(tmp_path / f"seq{i}" / records.METRICS) for i in range(n)]
        return many, seq, rows_m, rows_s
    rows_m, rows_s = [[] for _ in cfgs], [[] for _ in cfgs]
    many = train_many(cfgs, progress=False, on_eval=lambda i, row: rows_m[i].append(row))
    seq = [train(c, None, progress=False, on_eval=rows.append) for c, rows in zip(cfgs, rows_s)]
    return many, seq, rows_m, rows_s


@pytest.mark.parametrize("batch_size", [0, 16])
def test_float64_rows_equal_sequential_runs(batch_size):
    many, seq, rows_m, rows_s = run_both(sweep(dtype="float64", batch_size=batch_size))
    for m, s, rm, rs in zip(many, seq, rows_m, rows_s):
        assert len(rs) == 7 and "phi_task/hidden.0.pre" in rs[-1]  # diagnostics are compared too
        assert_rows_close(rm, rs, **F64)
        assert_summaries_match(m, s, F64)
    # the sweep really differs per seed (not S copies of one run)
    assert len({r[-1]["weight_norm"] for r in rows_m}) == len(SWEEP)


@pytest.mark.parametrize("batch_size", [0, 16])
def test_float32_rows_within_tolerance(batch_size):
    cfgs = sweep(batch_size=batch_size, steps=100, diagnostics=False)  # (compared in float64 above)
    many, seq, rows_m, rows_s = run_both(cfgs)
    for m, s, rm, rs in zip(many, seq, rows_m, rows_s):
        assert_rows_close(rm, rs, **F32)
        assert_summaries_match(m, s, F32)
    if batch_size == 0:  # the milestones compared above were reached, not None == None
        assert all(m["memorised_step"] is not None for m in many)


@pytest.mark.parametrize("variant", [
    dict(mode="project", depth=3, warmup_steps=7),
    dict(site="post", encoding="embed", embed_dim=8, beta2=0.98),
    dict(loss="stablemax", expensive_every=3, hessian_probes=2, eigen_iters=3),
    # every reading of ||h||, soft and projected, and activation L2 (radius 0)
    dict(reduce="sum", batch_size=16),
    dict(norm_over="batch"),
    dict(norm_over="batch", mode="project", batch_size=16),
    dict(norm_over="batch", radius_scale=0.0),
])
def test_model_and_method_variants(variant):
    cfgs = sweep(dtype="float64", steps=30, **variant)[:3]
    many, seq, rows_m, rows_s = run_both(cfgs)
    for m, s, rm, rs in zip(many, seq, rows_m, rows_s):
        assert_rows_close(rm, rs, **F64)
        assert_summaries_match(m, s, F64)


def test_run_directories_match_and_resume_with_train(tmp_path):
    cfgs = sweep(dtype="float64")[:2]
    run_both(cfgs, tmp_path)
    for i, cfg in enumerate(cfgs):
        m, s = tmp_path / f"many{i}", tmp_path / f"seq{i}"
        assert sorted(p.name for p in m.iterdir()) == sorted(p.name for p in s.iterdir())
        assert records.read_json(m / records.CONFIG) == records.read_json(s / records.CONFIG)
        assert records.read_json(m / records.SPLIT) == records.read_json(s / records.SPLIT)
        cm, cs = records.load_checkpoint(m / records.CHECKPOINT), records.load_checkpoint(s / records.CHECKPOINT)
        assert list(cm) == list(cs) and cm["step"] == cs["step"] == 60
        assert cm["sched"] == cs["sched"] and cm["tracker"] == cs["tracker"]
        assert torch.equal(cm["rng"], cs["rng"])
        assert cm["opt"]["param_groups"] == cs["opt"]["param_groups"]
        for k in cs["model"]:
            torch.testing.assert_close(cm["model"][k], cs["model"][k], rtol=1e-9, atol=1e-12)
        for k, st in cs["opt"]["state"].items():
            assert list(cm["opt"]["state"][k]) == list(st)
            for name, v in st.items():
                torch.testing.assert_close(cm["opt"]["state"][k][name], v, rtol=1e-9, atol=1e-12)
        # the checkpoint is train()'s own: one seed continues alone to a longer budget
        longer = cfg.replace(steps=80)
        train(longer, m, resume=True, progress=False)
        want = train(longer, tmp_path / f"long{i}", progress=False)
        assert_rows_close(records.read_jsonl(m / records.METRICS),
                          records.read_jsonl(tmp_path / f"long{i}" / records.METRICS), **F64)
        assert_summaries_match(records.read_json(m / records.SUMMARY), want, F64)


def test_early_stop_per_seed(tmp_path, monkeypatch):
    # Nothing this small groks in 100 steps, so let the tracker watch train accuracy;
    # the patch is seen by train() and train_many alike.
    update = GrokTracker.update
    monkeypatch.setattr(GrokTracker, "update", lambda self, step, tr, te: update(self, step, tr, tr))
    cfgs = [RunConfig().replace(**{**TINY, **s, "dtype": "float64", "steps": 100, "early_stop": e,
                                   "patience": pat, "grok_threshold": th,
                                   "diagnostics": False})
            for s, e, pat, th in zip(SWEEP, (True, True, False, True), (10, 30, 0, 10), (0.5, 0.8, 0.5, 0.7))]
    many, seq, rows_m, rows_s = run_both(cfgs, tmp_path)
    for m, s, rm, rs in zip(many, seq, rows_m, rows_s):
        assert_rows_close(rm, rs, **F64)
        assert_summaries_match(m, s, F64)
        assert m["status"] == "grokked"
    done = [m["steps_done"] for m in many]
    assert done[2] == 100 and len(set(done)) == 4 and max(done[:2] + done[3:]) < 100
    # a stopped seed's checkpoint holds its own final state
    for i in (0, 1):
        assert records.load_checkpoint(tmp_path / f"many{i}" / records.CHECKPOINT)["step"] == done[i]


def test_divergent_seed_does_not_stop_the_others():
    cfgs = sweep(dtype="float64")[:3]
    cfgs[1] = cfgs[1].replace(lr=1e200, lam=0.0, weight_decay=0.0)  # overflows float64 within 10 steps
    many, seq, rows_m, rows_s = run_both(cfgs)
    assert seq[1]["status"] == many[1]["status"] == "diverged"
    assert many[1]["steps_done"] == seq[1]["steps_done"] and many[1]["message"] == seq[1]["message"]
    for i in (0, 2):
        assert many[i]["steps_done"] == 60
        assert_rows_close(rows_m[i], rows_s[i], **F64)
        assert_summaries_match(many[i], seq[i], F64)


@pytest.mark.parametrize("field,value", [("width", 32), ("batch_size", 16), ("steps", 50), ("dtype", "float64"),
                                         ("p", 13), ("mode", "project")])
def test_configs_that_change_shapes_are_refused(field, value):
    cfgs = sweep()[:2]
    cfgs[1] = cfgs[1].replace(**{field: value})
    with pytest.raises(ConfigError, match=field):
        train_many(cfgs, progress=False)


@pytest.mark.parametrize("variant", [dict(arch="transformer", depth=1, width=16, n_heads=2),
                                     dict(grokfast="ema"), dict(grokfast="ma", grokfast_window=5),
                                     dict(orthograd=True), dict(val_frac=0.2)])
def test_methods_and_the_transformer_stack_too(variant):
    """Each seed keeps its own optimizer, gradient filter and evaluation, so these stack as well."""
    many, seq, rows_m, rows_s = run_both(sweep(dtype="float64", steps=30, diagnostics=False, **variant)[:3])
    for m, s, rm, rs in zip(many, seq, rows_m, rows_s):
        assert_rows_close(rm, rs, **F64)
        assert_summaries_match(m, s, F64)


def test_dropout_is_not_stacked():
    """train() draws dropout masks from one RNG stream in an order a vmapped forward cannot replay."""
    from radgrok.training.multiseed import stack_key

    assert stack_key(sweep(dropout=0.1)[0]) is None and stack_key(sweep()[0]) is not None
    with pytest.raises(ConfigError, match="dropout"):
        train_many(sweep(dropout=0.1)[:2], progress=False)


def test_out_dirs_are_checked(tmp_path):
    cfgs = sweep(steps=10)[:2]
    with pytest.raises(ConfigError, match="out_dirs"):
        train_many(cfgs, [tmp_path / "a"], progress=False)
    with pytest.raises(ConfigError, match="distinct"):
        train_many(cfgs, [tmp_path / "a", tmp_path / "a"], progress=False)
    train_many(cfgs, [tmp_path / "a", tmp_path / "b"], progress=False)
    with pytest.raises(ConfigError, match="already exists"):
        train_many(cfgs, [tmp_path / "c", tmp_path / "b"], progress=False)
    assert train_many([]) == []
