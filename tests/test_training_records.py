import json

import pytest

from radgrok.training import records


def test_append_jsonl_reads_back_and_drops_only_a_cut_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    records.write_jsonl(path, [])
    for step in range(3):
        records.append_jsonl(path, {"step": step, "x": step / 3})
    assert [r["step"] for r in records.read_jsonl(path)] == [0, 1, 2]
    with open(path, "a") as fh:  # a crash in the middle of an append
        fh.write('{"step": 3, "x"')
    assert [r["step"] for r in records.read_jsonl(path)] == [0, 1, 2]
    # damage anywhere but the last line is not a crash artefact: it is an error
    path.write_text('{"step": 0}\n{"step": 1\n{"step": 2}\n')
    with pytest.raises(json.JSONDecodeError):
        records.read_jsonl(path)


def test_write_json_is_atomic_and_leaves_no_temp_files(tmp_path):
    records.write_json(tmp_path / "s.json", {"a": 1})
    records.write_json(tmp_path / "s.json", {"a": 2})
    assert records.read_json(tmp_path / "s.json") == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]
