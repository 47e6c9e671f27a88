"""Repair committed run records that contradict their own metrics (issue 26, item 3); run once.

    .venv/bin/python docs/results/readings/repair_records.py docs/results/reproduce/*/runs.tgz

For each run in each archive (rewritten in place, atomically):
* a summary still ``running`` whose metrics.jsonl goes further (the H100 invocations stopped from
  outside) becomes ``cut`` at the last logged step, its grok step and final values recomputed from
  the metrics, its wall time unknown (null: the process never wrote it);
* a ``dng`` that ended at a --steps cap below its arm's budget becomes ``cut`` with ``cap`` (the
  step it was stopped at) and ``budget`` (the arm's, from the target's plan); a grok that crossed
  only at such a cap keeps its grok step and gains the same two fields;
* a config.json whose steps are below what the run trained (resumed to a larger budget) records
  the steps it ran under, and the arm's budget when capped;
* split.json is left out: the seed in config.json regenerates it exactly (only a resume reads it).
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path

from radgrok.experiments.targets import plan
from radgrok.runs import records
from radgrok.runs.grok import grok_step

S = records.Status


def planned_budgets(tgz: Path) -> dict[str, int]:
    target, _, scale = tgz.parent.name.rpartition("-")
    p = plan(target, scale, seeds=10)
    return {records.run_name(a.name, s): p.budget(a) for a in p.arms for s in range(10)}


def repair(summary: dict, config: dict, rows: list[dict], planned: int | None) -> tuple[dict, dict]:
    s, c = dict(summary), json.loads(json.dumps(config))
    tr = c["config"]["train"]
    last = rows[-1]
    steps, test = [r["step"] for r in rows], [r["test_acc"] for r in rows]
    if s["status"] == S.RUNNING and last["step"] > s["steps_done"]:
        s.update(status=S.CUT, steps_done=last["step"], grok_step=grok_step(steps, test, tr["grok_threshold"]),
                 memorised_step=next((r["step"] for r in rows if r["train_acc"] >= 0.99), None),
                 step_95=next((r["step"] for r in rows if r["test_acc"] >= 0.95), None),
                 final={k: last.get(k) for k in ("train_acc", "test_acc", "train_loss", "test_loss")},
                 wall_seconds=None, budget=max(s["budget"], planned or 0),
                 message=f"repaired from metrics.jsonl: the invocation was stopped from outside at step "
                         f"{last['step']:,}; its wall time was never written")
    elif planned and s["budget"] < planned and s["status"] in (S.DNG, S.GROKKED):
        s.update(cap=s["budget"], budget=planned, status=S.CUT if s["status"] == S.DNG else S.GROKKED)
    if tr["steps"] < s["steps_done"]:
        tr["steps"] = s.get("cap", s["budget"])
    if "cap" in s:
        tr["budget"] = s["budget"]
    return s, c


def main(paths: list[str]) -> None:
    for path in map(Path, paths):
        planned = planned_budgets(path)
        with tarfile.open(path) as tf:
            members = {m.name: (m, tf.extractfile(m).read() if m.isfile() else None) for m in tf.getmembers()}
        changed = []
        splits = [n for n in members if n.endswith("/" + records.SPLIT)]
        for n in splits:
            del members[n]
        for name, (m, data) in list(members.items()):
            if not name.endswith("/" + records.SUMMARY):
                continue
            d = name[: -len(records.SUMMARY)]
            rows = [json.loads(x) for x in members[d + records.METRICS][1].decode().splitlines() if x.strip()]
            old_s, old_c = json.loads(data), json.loads(members[d + records.CONFIG][1])
            s, c = repair(old_s, old_c, rows, planned.get(Path(d).name))
            if (s, c) != (old_s, old_c):
                members[name] = (m, (json.dumps(s, indent=2) + "\n").encode())
                cfg_member = members[d + records.CONFIG][0]
                members[d + records.CONFIG] = (cfg_member, (json.dumps(c, indent=2) + "\n").encode())
                changed.append(Path(d).name)
        if not changed and not splits:
            continue
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tf:
            for m, data in members.values():
                if data is not None:
                    m.size = len(data)
                    tf.addfile(m, io.BytesIO(data))
                else:
                    tf.addfile(m)
        tmp = path.with_suffix(".tgz.tmp")  # then renamed over the archive: never half of one
        tmp.write_bytes(buf.getvalue())
        tmp.replace(path)
        print(f"{path}: repaired {', '.join(changed) or 'nothing'}; {len(splits)} split.json left out")


if __name__ == "__main__":
    main(sys.argv[1:])
