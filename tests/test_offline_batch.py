"""``--cluster local:N | condor:N | slurm:N`` (issue 15, the ``[batch]`` extra).

No batch system exists here: the HTCondor and SLURM specs are checked by the cluster class
they build and the job script it would submit (nothing is submitted); the counting itself runs
through a real ``distributed.LocalCluster`` (``local:N``), the stand-in.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import need

from lumiaudit.cli import cli
from lumiaudit.errors import ClusterError, ParameterError
from lumiaudit.example import write_basf2_file
from lumiaudit.offline.batch import ClusterSpec, make_cluster, open_cluster, wait_for_workers
from lumiaudit.options import AuditOptions

pytestmark = pytest.mark.slow


def _need_jobqueue() -> None:
    need(importlib.util.find_spec("dask_jobqueue") is not None, "dask-jobqueue")


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("condor:20", ClusterSpec("condor", 20)),
        ("slurm:1", ClusterSpec("slurm", 1)),
        (" local:2 ", ClusterSpec("local", 2)),
    ],
)
def test_specs(text: str, spec: ClusterSpec) -> None:
    assert ClusterSpec.parse(text) == spec
    assert ClusterSpec.parse(str(spec)) == spec


@pytest.mark.parametrize("text", ["condor", "slurm:0", "slurm:-1", "pbs:4", "condor:2x", ":3", ""])
def test_bad_specs(text: str) -> None:
    with pytest.raises(ParameterError, match="is not KIND:N"):
        ClusterSpec.parse(text)


@pytest.mark.parametrize(
    ("spec", "cls", "lines"),
    [
        ("slurm:3", "SLURMCluster", ["#!/usr/bin/env bash", "#SBATCH --cpus-per-task=1",
                                     "#SBATCH --mem=2G"]),
        ("condor:3", "HTCondorCluster", ["#!/usr/bin/env condor_submit", "MY.DaskWorkerCores = 1",
                                         "MY.DaskWorkerMemory = 2000000000", "Queue"]),
    ],
)  # fmt: skip
def test_batch_specs_build_the_jobqueue_cluster(spec: str, cls: str, lines: list[str]) -> None:
    _need_jobqueue()
    import dask_jobqueue

    cluster = make_cluster(spec, check_submit=False)
    try:
        assert type(cluster) is getattr(dask_jobqueue, cls)
        script = cluster.job_script()
        for line in lines:
            assert line in script.splitlines(), (line, script)
        # one worker of one thread per job, running this Python, on this scheduler
        assert f"{sys.executable} -m distributed.cli.dask_worker" in script
        assert "--nthreads 1" in script
        assert cluster.scheduler_address.split("//")[1].split(":")[1] in script
        assert len(cluster.workers) == 0  # nothing was submitted
    finally:
        cluster.close()


def test_the_jobqueue_configuration_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    _need_jobqueue()
    import dask

    with dask.config.set({"jobqueue.slurm.memory": "7GB", "jobqueue.slurm.queue": "short"}):
        cluster = make_cluster("slurm:1", check_submit=False)
        try:
            script = cluster.job_script()
        finally:
            cluster.close()
    assert "#SBATCH --mem=7G" in script
    assert "#SBATCH -p short" in script


@pytest.mark.parametrize(
    ("spec", "command"), [("slurm:2", "sbatch"), ("condor:2", "condor_submit")]
)
def test_a_missing_submit_command_is_an_error(spec: str, command: str) -> None:
    _need_jobqueue()
    if shutil.which(command):
        pytest.skip(f"{command} exists here")
    with pytest.raises(ClusterError, match=f"{command} is not on PATH"):
        make_cluster(spec)


def test_a_cluster_without_workers_is_an_error_after_the_timeout() -> None:
    need(importlib.util.find_spec("distributed") is not None, "dask.distributed")
    import distributed

    # a real scheduler that never gets a worker (as a batch queue that never runs the jobs)
    with (
        distributed.LocalCluster(
            n_workers=0, processes=True, dashboard_address=None, silence_logs=logging.ERROR
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
        pytest.raises(ClusterError, match=r"--cluster slurm:4: no Dask worker joined within 1 s"),
    ):
        wait_for_workers(client, timeout=1, what="--cluster slurm:4")


def test_open_cluster_local_gives_workers() -> None:
    need(importlib.util.find_spec("distributed") is not None, "dask.distributed")
    with open_cluster("local:2", start_timeout=120) as client:
        assert client.submit(sum, [1, 2, 3]).result() == 6
        cluster: Any = client.cluster
        assert len(cluster.workers) == 2
    assert cluster.status.name == "closed"


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("prod")
    for run in (201, 202):
        for unit in (1, 2):
            for index in range(3):
                write_basf2_file(
                    root
                    / f"r{run:05d}"
                    / f"raw.physics.0012.{run:05d}.HLT{unit}.f{index:05d}.root",
                    experiment=12,
                    run=run,
                    n_events=5 + index + unit,
                )
    return root


def test_count_through_the_local_stand_in(production: Path, tmp_path: Path) -> None:
    need(importlib.util.find_spec("distributed") is not None, "dask.distributed")
    runner = CliRunner()
    base = ["count", str(production), "--no-progress"]
    local = runner.invoke(
        cli, [*base, "--runs", str(tmp_path / "local.csv"), "-o", str(tmp_path / "lf.csv")]
    )
    assert local.exit_code == 0, local.output
    on = runner.invoke(
        cli,
        [*base, "--cluster", "local:2",
         "--runs", str(tmp_path / "cluster.csv"), "-o", str(tmp_path / "cf.csv")],
    )  # fmt: skip
    assert on.exit_code == 0, on.output
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "cluster.csv"), pd.read_csv(tmp_path / "local.csv")
    )
    files = pd.read_csv(tmp_path / "cf.csv")
    assert len(files) == 12
    assert files["n_entries"].sum() == pd.read_csv(tmp_path / "lf.csv")["n_entries"].sum()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cluster", "pbs:3"], "is not KIND:N"),
        (["--cluster", "local:2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
    ],
)
def test_cli_count_refuses(production: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["count", str(production), "--no-progress", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_cli_count_missing_submit_command_exit_2(production: Path) -> None:
    _need_jobqueue()
    if shutil.which("sbatch"):
        pytest.skip("sbatch exists here")
    result = CliRunner().invoke(cli, ["count", str(production), "--cluster", "slurm:2"])
    assert result.exit_code == 2, result.output
    assert "sbatch is not on PATH" in result.output


def test_options_take_the_cluster() -> None:
    opts = AuditOptions.from_mapping({"cluster": "slurm:10", "cluster_timeout": 900})
    assert (opts.cluster, opts.cluster_timeout) == ("slurm:10", 900.0)
    with pytest.raises(ParameterError, match="is not KIND:N"):
        AuditOptions.from_mapping({"cluster": "slurm"})
    with pytest.raises(ParameterError, match="not both"):
        AuditOptions(cluster="local:2", scheduler="tcp://127.0.0.1:8786")


def test_audit_through_the_local_stand_in(example: dict[str, Path], tmp_path: Path) -> None:
    need(importlib.util.find_spec("distributed") is not None, "dask.distributed")
    import lumiaudit

    local = lumiaudit.audit(online=example["elog"], offline=example["prod"])
    on = lumiaudit.audit(online=example["elog"], offline=example["prod"], cluster="local:2")
    for name in ("runs", "files", "gaps", "funnel"):
        pd.testing.assert_frame_equal(getattr(on, name), getattr(local, name))
    assert on.summary["options"]["cluster"] == "local:2"
    # the CLI takes the option from the same declaration
    out = tmp_path / "audit"
    result = CliRunner().invoke(
        cli,
        ["audit", "--online", str(example["elog"]), "--offline", str(example["prod"]),
         "--out", str(out), "--no-plots", "--no-progress", "--cluster", "local:2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    cols = ["experiment", "run", "status", "flagged", "n_offline", "n_offline_full"]
    pd.testing.assert_frame_equal(
        lumiaudit.Audit.load(out).runs[cols], local.runs[cols].reset_index(drop=True)
    )
    assert json.loads((out / "summary.json").read_text())["options"]["cluster"] == "local:2"


def test_audit_cluster_without_submit_command_exit_2(
    example: dict[str, Path], tmp_path: Path
) -> None:
    _need_jobqueue()
    if shutil.which("condor_submit"):
        pytest.skip("condor_submit exists here")
    out = tmp_path / "audit"
    result = CliRunner().invoke(
        cli,
        ["audit", "--online", str(example["elog"]), "--offline", str(example["prod"]),
         "--out", str(out), "--no-plots", "--cluster", "condor:4"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "condor_submit is not on PATH" in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("audit", "message"),
    [
        ('cluster = "slurm:20"\ncluster_timeout = 1800\ntable_format = "parquet"\n', None),
        ('cluster = "pbs:20"\n', "is not KIND:N"),
        ('cluster = "local:2"\nscheduler = "tcp://h:8786"\n', "not both"),
        ("cluster_timeout = 0\n", "below the minimum"),
    ],
)
def test_nightly_audit_table_takes_the_cluster(
    tmp_path: Path, audit: str, message: str | None
) -> None:
    from lumiaudit.errors import ConfigError
    from lumiaudit.nightly import read_config

    path = tmp_path / "n.toml"
    path.write_text(
        f'[nightly]\nonline = "elog"\noffline = "prod"\nreports = "r"\n[audit]\n{audit}'
    )
    if message is None:
        cfg = read_config(path)
        assert cfg.audit["cluster"] == "slurm:20"
        assert cfg.audit["table_format"] == "parquet"
    else:
        with pytest.raises(ConfigError, match=message):
            read_config(path)
