"""The sweep result store: schema widening, crash-safe compaction, orphan time series."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq

from reflow.experiment.store import SweepStore, load_runs, timeseries_to_table


def _row(i: int, **metrics):
    return {"run_id": f"p{i:06d}-r0000", "point_id": i, "replicate": 0, "seed": 10 + i, "status": "ok",
            "error": None, "wall_time_s": 0.1, "overrides": "{}", **metrics}


def test_parts_keep_one_schema_as_columns_appear_and_widen(tmp_path):
    store = SweepStore(tmp_path)
    store.append([_row(0, a=None)])                    # all-null: stored as float64
    store.append([_row(1, a=2, b="x")])                # int fits float64; a new column
    store.append([_row(2, a="late text")])             # a string: older parts are rewritten as text
    df = pd.read_parquet(tmp_path / "runs")            # one line of pandas works across all parts
    assert len(df) == 3 and set(df.columns) >= {"a", "b"}
    assert df.set_index("run_id").loc["p000002-r0000", "a"] == "late text"
    assert load_runs(tmp_path)["run_id"].tolist() == ["p000000-r0000", "p000001-r0000", "p000002-r0000"]


def test_a_crash_during_compaction_is_finished_on_recovery(tmp_path):
    store = SweepStore(tmp_path)
    for i in range(3):
        store.append([_row(i, y=float(i))])
    parts = store.runs.parts()
    # simulate a crash after the merged part was renamed into place but before the inputs were deleted
    merged = "part-9999999999999-aaaaaa.parquet"
    pq.write_table(pq.read_table(tmp_path / "runs"), tmp_path / "runs" / merged)
    (tmp_path / "runs" / ".compact.json").write_text(json.dumps({"inputs": [p.name for p in parts],
                                                                 "output": merged}))
    (tmp_path / "runs" / ".part-x.parquet.tmp").write_text("half written")
    fresh = SweepStore(tmp_path)
    fresh.recover()
    assert [p.name for p in fresh.runs.parts()] == [merged]
    assert not list((tmp_path / "runs").glob(".*"))
    assert len(load_runs(tmp_path)) == 3


def test_a_crash_before_the_merged_part_exists_keeps_the_inputs(tmp_path):
    store = SweepStore(tmp_path)
    for i in range(2):
        store.append([_row(i)])
    names = [p.name for p in store.runs.parts()]
    (tmp_path / "runs" / ".compact.json").write_text(json.dumps({"inputs": names, "output": "part-x.parquet"}))
    fresh = SweepStore(tmp_path)
    fresh.recover()
    assert [p.name for p in fresh.runs.parts()] == names and len(load_runs(tmp_path)) == 2


def test_time_series_without_their_row_are_dropped(tmp_path):
    store = SweepStore(tmp_path)
    ts = pd.DataFrame({"run_id": ["p000000-r0000"], "week": [0], "variable": ["v"], "material": [None],
                       "origin": [None], "region": ["US"], "value": [1.0]})
    store.append([_row(0)], [ts])
    # a crash between writing a run's time series and its row leaves an orphan part
    store.timeseries.append(timeseries_to_table(ts.assign(run_id="p000001-r0000")))
    fresh = SweepStore(tmp_path)
    fresh.recover()
    assert set(pd.read_parquet(tmp_path / "timeseries")["run_id"]) == {"p000000-r0000"}


def test_compaction_drops_runs_to_redo(tmp_path):
    store = SweepStore(tmp_path)
    for i in range(4):
        store.append([_row(i)])
    store.compact(drop_run_ids=["p000001-r0000"])
    assert len(store.runs.parts()) == 1
    assert load_runs(tmp_path)["run_id"].tolist() == ["p000000-r0000", "p000002-r0000", "p000003-r0000"]


def _damaged_newest_part(tmp_path, damage):
    """A finished 3-run sweep whose newest runs part (one run) is then damaged by `damage(bytes) -> bytes`; returns
    a function that resumes the sweep, and that part's path."""
    from reflow.experiment import sweep
    from reflow.experiment.fakes import write_fake_sweep

    cfg = write_fake_sweep(tmp_path, '[sweep]\nname = "s"\nroot_seed = 1\n[[parameters]]\n'
                                     'key = "licensing.approval_rate"\nvalues = [0.2, 0.5, 0.8]\n')
    runner = "reflow.experiment.fakes:analytic"
    sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=runner)
    store = SweepStore(tmp_path / "out")
    store.runs.compact(drop_run_ids=["p000001-r0000"])  # 2 runs in the merged part
    store.append([_row(1) | {"run_id": "p000001-r0000"}])
    newest = store.runs.parts()[-1]
    newest.write_bytes(damage(newest.read_bytes()))
    return (lambda: sweep(cfg, out=tmp_path / "out", workers=0, progress=False, runner=runner)), newest


def test_an_unreadable_part_is_set_aside_and_its_runs_redone(tmp_path):
    """What a power cut can leave (a renamed part whose data never reached the disk) costs only its runs."""
    resume, newest = _damaged_newest_part(tmp_path, lambda _data: b"\0" * 100)
    res = resume()
    assert res.ran == 1 and len(res.runs) == 3 and set(res.runs["status"]) == {"ok"}
    assert newest.with_name(f"_{newest.name}.corrupt").exists()
    # set aside where Parquet readers do not look: the runs table is still one line of pandas
    assert sorted(pd.read_parquet(tmp_path / "out" / "runs")["run_id"]) == sorted(res.runs["run_id"])


def test_a_part_torn_in_the_middle_is_set_aside_too(tmp_path):
    """A part whose footer survived but whose data did not: found when the sweep resumes, set aside, redone."""
    def tear(data: bytes) -> bytes:
        return data[:8] + b"\xff" * 32 + data[40:]  # the first column chunk, footer intact

    resume, newest = _damaged_newest_part(tmp_path, tear)
    res = resume()
    assert res.ran == 1 and len(res.runs) == 3 and set(res.runs["status"]) == {"ok"}
    assert newest.with_name(f"_{newest.name}.corrupt").exists()


def test_reading_the_runs_while_parts_are_merged_lists_them_again(tmp_path, monkeypatch):
    """A part listed and then merged away (by a running sweep) before it is read: the reader lists again, rather
    than calling the store damaged."""
    import reflow.experiment.store as st

    store = SweepStore(tmp_path)
    for i in range(3):
        store.append([_row(i)])
    real = st.pq.read_table
    state = {"merged": False}

    def read_table(path, *a, **k):
        if not state["merged"]:  # the first read finds its part gone: merged in the meantime
            state["merged"] = True
            store.runs.compact()
            raise FileNotFoundError(path)
        return real(path, *a, **k)

    monkeypatch.setattr(st.pq, "read_table", read_table)
    assert sorted(load_runs(tmp_path)["run_id"]) == sorted(_row(i)["run_id"] for i in range(3))


def test_load_runs_of_a_folder_that_is_no_sweep_is_an_error_not_an_empty_table(tmp_path):
    """load_runs("results/controls_2025/<run>") or a scenario folder returned an empty table, as for a sweep
    whose first run has not finished: a notebook read 'no runs yet' where it had named the wrong folder."""
    import pytest

    from reflow.errors import ResultReadError

    run = tmp_path / "controls_2025" / "seed1"
    run.mkdir(parents=True)
    for name in ("manifest.json", "timeseries.parquet", "summary.json"):
        (run / name).write_text("{}")
    with pytest.raises(ResultReadError, match="is a run folder, not a sweep"):
        load_runs(run)
    with pytest.raises(ResultReadError, match="not a sweep folder"):
        load_runs(run.parent)
    started = tmp_path / "sweep"  # a sweep before its first run finishes: empty, with the base columns
    started.mkdir()
    (started / "sweep.toml").write_text('[sweep]\nname = "x"\n')
    assert load_runs(started).empty and "run_id" in load_runs(started).columns
