"""Shared fixtures: paths to vendored data, the shared corpus (when present), generated files."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import pytest

matplotlib.use("Agg")

HERE = Path(__file__).parent
DATA = HERE / "data"
REPO = HERE.parent
#: ../shared/data beside the clone (the session's and CI's corpus); absent on a plain clone.
SHARED = Path(os.environ.get("LUMIAUDIT_SHARED_DATA", REPO.parent / "shared" / "data"))
#: In CI every external part (xrootd, chromium, shared corpus) must be there: no silent skips.
REQUIRE_ALL = os.environ.get("LUMIAUDIT_REQUIRE_ALL", "") == "1"


def need(condition: bool, what: str) -> None:
    """Skip (locally) or fail (in CI with LUMIAUDIT_REQUIRE_ALL=1) when ``what`` is missing."""
    if condition:
        return
    if REQUIRE_ALL:
        pytest.fail(f"required for this run but missing: {what}")
    pytest.skip(f"not available here: {what}")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """tests/data: vendored real files (see tests/data/README.md)."""
    return DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (the full corpus); skips/fails when absent."""
    need(SHARED.is_dir(), f"shared corpus at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def b2_sample(data_dir: Path) -> Path:
    """Vendored subset of the ROOT-written Belle II-like production."""
    return data_dir / "b2-sample"


@pytest.fixture(scope="session")
def elog_dir(data_dir: Path) -> Path:
    """Real elogd 3.1.5 output (day files and exports)."""
    return data_dir / "elog"


@pytest.fixture
def b2_file(tmp_path: Path) -> Callable[..., Path]:
    """Factory writing a basf2-like ROOT file with uproot (see lumiaudit.example)."""
    from lumiaudit.example import write_basf2_file

    def make(name: str = "mdst.physics.0012.00101.HLT1.f00000.root", **kw: Any) -> Path:
        kw.setdefault("experiment", 12)
        kw.setdefault("run", 101)
        kw.setdefault("n_events", 10)
        return write_basf2_file(tmp_path / name, **kw)

    return make


@pytest.fixture(scope="session")
def example(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The bundled example regenerated in a temporary directory (prod/, elog/, truth.csv)."""
    from lumiaudit.example import make_example

    return make_example(tmp_path_factory.mktemp("example"))


@pytest.fixture(scope="session")
def bundled_example() -> Path:
    """data/example as committed (used by the demo)."""
    path = REPO / "data" / "example"
    need(path.is_dir(), "data/example")
    return path


def which(name: str) -> str | None:
    """shutil.which, for tests that need an external program."""
    return shutil.which(name)
