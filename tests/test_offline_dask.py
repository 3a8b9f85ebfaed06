"""Counting on a real dask.distributed LocalCluster gives the same results as locally."""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import need

from lumiaudit.errors import ParameterError
from lumiaudit.example import write_basf2_file
from lumiaudit.offline import count_events
from lumiaudit.offline.count import count_file
from lumiaudit.offline.executors import map_files

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("prod")
    rng = np.random.default_rng(7)
    for run in (201, 202):
        for unit in (1, 2, 3):
            for index in range(4):
                if (run, unit, index) == (202, 2, 1):
                    continue  # an index gap
                n = int(rng.integers(3, 40))
                write_basf2_file(
                    root
                    / f"r{run:05d}"
                    / f"raw.physics.0012.{run:05d}.HLT{unit}.f{index:05d}.root",
                    experiment=12,
                    run=run,
                    n_events=n,
                    error_flags=np.where(rng.random(n) < 0.2, 0x10, 0),
                )
    (root / "r00201" / "raw.physics.0012.00201.HLT4.f00000.root").write_text("not ROOT")
    return root


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    need(importlib.util.find_spec("distributed") is not None, "dask.distributed")
    import distributed

    # real worker processes: functions and records cross process boundaries as in production
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as c,
    ):
        yield c


def _tables(result: Any) -> list[pd.DataFrame]:
    return [result.files, result.contributions, result.runs, result.gaps]


def test_map_files_on_the_cluster_matches_local(production: Path, client: Any) -> None:
    paths = sorted(str(p) for p in production.rglob("*.root"))
    func = functools.partial(count_file, mode="deep")
    local = map_files(func, paths)
    remote = map_files(func, paths, client=client)
    assert remote == local
    assert len({r.n_entries for r in remote}) > 5


def _where(item: int) -> tuple[int, int]:
    return item, os.getpid()


def test_items_run_in_the_worker_processes_in_input_order(client: Any) -> None:
    out = map_files(_where, list(range(40))[::-1], client=client)
    assert [i for i, _ in out] == list(range(40))[::-1]
    worker_pids = set(client.run(os.getpid).values())
    assert {pid for _, pid in out} <= worker_pids
    assert os.getpid() not in worker_pids


def test_count_events_with_client_and_scheduler_address(production: Path, client: Any) -> None:
    local = count_events(production, mode="deep")
    on_client = count_events(production, mode="deep", client=client)
    on_address = count_events(production, mode="deep", scheduler=client.scheduler.address)
    for a, b, c in zip(_tables(local), _tables(on_client), _tables(on_address), strict=True):
        pd.testing.assert_frame_equal(b, a)
        pd.testing.assert_frame_equal(c, a)
    assert len(local.gaps) >= 1
    assert (local.files["status"] == "not_root").sum() == 1


def test_an_unreachable_scheduler_is_a_clear_error() -> None:
    import dask

    with (
        dask.config.set({"distributed.comm.timeouts.connect": "2s"}),
        pytest.raises(ParameterError, match=r"Dask scheduler at tcp://127\.0\.0\.1:9"),
    ):
        map_files(abs, [1, 2], scheduler="tcp://127.0.0.1:9")
