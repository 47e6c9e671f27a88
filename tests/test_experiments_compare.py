import math

from radgrok.experiments.compare import compare, val_score
from radgrok.training import records
from radgrok.training.config import RunConfig, to_dict

TINY = dict(p=11, width=16, steps=40, eval_every=10)


def test_compare_tunes_on_validation_then_trains_winners_on_all_seeds(tmp_path):
    arms = {"plain": dict(TINY), "penalty": dict(TINY, lam=0.05)}
    md = compare(tmp_path, arms=arms, seeds=[0, 1], tune={"weight_decay": [0.1, 1.0]}, tune_seeds=[0],
                 val_frac=0.2, workers=2)
    assert md.count("**yes**") == 2  # one winner per arm
    assert "| penalty | 2 | 0.05 |" in md and "| plain | 2 | 0.0 |" in md
    # tuning runs held out validation pairs from training and logged their accuracy
    tune_run = tmp_path / "tune" / "plain,weight_decay=0.1-s0"
    split = records.read_json(tune_run / records.SPLIT)
    assert split["val_idx"] and not set(split["val_idx"]) & set(split["train_idx"])
    assert "val_acc" in records.read_jsonl(tune_run / records.METRICS)[-1]
    # final runs: full training set, the chosen weight decay, no validation
    final = records.read_json(tmp_path / "final" / "plain-s1" / records.CONFIG)["config"]
    assert final["task"]["val_frac"] == 0.0 and final["optim"]["weight_decay"] in (0.1, 1.0)
    assert (tmp_path / "report.md").exists()


def test_val_score_orders_grokked_before_dng_under_the_runs_own_threshold(tmp_path):
    for name, accs, threshold in (("a", [0.1, 0.95, 0.96], 0.9), ("b", [0.1, 0.2, 0.3], 0.9),
                                  ("c", [0.1, 0.95, 0.96], 0.955)):
        (tmp_path / name).mkdir()
        records.write_json(tmp_path / name / records.CONFIG,
                           {"config": to_dict(RunConfig().replace(grok_threshold=threshold))})
        records.write_jsonl(tmp_path / name / records.METRICS,
                            [{"step": 10 * i, "val_acc": a} for i, a in enumerate(accs)])
    assert val_score(tmp_path / "a") == (10, -0.96)
    assert val_score(tmp_path / "b")[0] == math.inf
    assert val_score(tmp_path / "c") == (20, -0.96)  # 0.95 is not above 0.955
