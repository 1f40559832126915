"""The Dask executor against a LocalCluster: same results as local processes, failures recorded, bounded retries."""

from __future__ import annotations

import pandas as pd
import pytest

from reflow.errors import ReflowError
from reflow.experiment import sweep
from reflow.experiment.executors import DaskExecutor
from reflow.experiment.fakes import write_fake_sweep

distributed = pytest.importorskip("distributed")

FAKES = "reflow.experiment.fakes"
GRID = """[sweep]
name = "dask_grid"
replicates = 2
root_seed = 5

[[parameters]]
key = "licensing.approval_rate"
values = [0.2, 0.5, 0.8]

[[parameters]]
key = "licensing.overrun_probability"
values = [0.0, 0.3]

[outputs]
timeseries = true
"""


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as c:
        yield c


def _comparable(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=["wall_time_s", "cpu_time_s"]).sort_values("run_id").reset_index(drop=True)


def test_dask_cluster_gives_the_same_results(tmp_path, cluster):
    cfg = write_fake_sweep(tmp_path, GRID, weeks=8)
    on_dask = sweep(cfg, out=tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False,
                    runner=f"{FAKES}:failing")
    assert on_dask.engine.startswith(f"Dask cluster at {cluster.scheduler_address}")
    local = sweep(cfg, out=tmp_path / "local", workers=0, progress=False, runner=f"{FAKES}:failing")
    pd.testing.assert_frame_equal(_comparable(on_dask.runs), _comparable(local.runs))
    assert on_dask.counts == {"ok": 8, "error": 4}
    ts = pd.read_parquet(tmp_path / "dask" / "timeseries")
    assert set(ts["run_id"]) == set(on_dask.runs.query("status == 'ok'")["run_id"])
    # resume on the cluster: nothing left to do
    assert sweep(cfg, out=tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False,
                 runner=f"{FAKES}:failing").ran == 0


@pytest.mark.slow
def test_dask_killed_worker_is_bounded(tmp_path):
    """A run that kills its Dask worker is recorded as crashed after bounded retries; its neighbours finish."""
    cfg = write_fake_sweep(tmp_path, GRID.replace("replicates = 2", "replicates = 1")
                           .replace("values = [0.2, 0.5, 0.8]", "values = [0.2, 0.8]"), weeks=8)
    import dask

    # the setting is read by the scheduler when it starts: a fresh cluster that has it
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        res = sweep(cfg, out=tmp_path / "out", scheduler=c.scheduler_address, progress=False,
                    runner=f"{FAKES}:crash_always")
    runs = res.runs
    assert res.counts == {"ok": 2, "crashed": 2}, runs[["run_id", "status", "error"]].to_string()
    assert runs.loc[runs["status"] == "crashed", "error"].str.contains("also when it ran alone").all()


def test_embedded_local_cluster(tmp_path):
    cfg = write_fake_sweep(tmp_path, GRID, weeks=8)
    res = sweep(cfg, out=tmp_path / "out", scheduler="local", workers=1, progress=False,
                runner=f"{FAKES}:analytic")
    assert res.counts == {"ok": 12} and "LocalCluster" in res.engine


def test_unreachable_scheduler_is_a_clear_error(tmp_path):
    ex = DaskExecutor("tcp://127.0.0.1:9", timeout=2)
    with pytest.raises(ReflowError, match="cannot reach a Dask scheduler"):
        list(ex.run([]))
