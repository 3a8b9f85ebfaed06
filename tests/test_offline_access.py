"""The one local-vs-remote decision of offline/ (:func:`lumiaudit.offline.access.access`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import uproot
from hypothesis import given
from hypothesis import strategies as st

from lumiaudit.offline.access import access, is_url, source_timeout
from lumiaudit.offline.cache import file_key
from lumiaudit.offline.count import count_file
from lumiaudit.offline.executors import is_remote
from lumiaudit.offline.names import parse_path


@pytest.mark.parametrize(
    ("path", "kind", "client_path"),
    [
        ("/data/f.root", "local", "/data/f.root"),
        ("rel/f.root", "local", "rel/f.root"),
        ("file:///data/f.root", "local", "/data/f.root"),
        ("/data/odd://name/f.root", "local", "/data/odd://name/f.root"),  # a colon in a dir
        ("C:/data/f.root", "local", "C:/data/f.root"),
        ("root://eos.example//belle/f.root", "xrootd", "root://eos.example//belle/f.root"),
        ("roots://eos//f.root", "xrootd", "roots://eos//f.root"),
        ("xroot://eos//f.root", "xrootd", "xroot://eos//f.root"),
        ("ROOT://eos//f.root", "xrootd", "ROOT://eos//f.root"),
        ("http://h/f.root", "http", "http://h/f.root"),
        ("HTTPS://h/f.root", "http", "HTTPS://h/f.root"),
        ("s3://bucket/f.root", "fsspec", "s3://bucket/f.root"),
        ("simplecache::root://eos//f.root", "fsspec", "simplecache::root://eos//f.root"),
        ("memory://f.root", "fsspec", "memory://f.root"),
    ],
)
def test_access_table(path: str, kind: str, client_path: str) -> None:
    where = access(path)
    assert (where.kind, where.path) == (kind, client_path)
    assert is_url(path) is (kind != "local")
    assert is_remote(path) is is_url(path)


def test_pathlike_is_always_local() -> None:
    assert access(Path("root:/x.root")).kind == "local"
    assert not is_remote(Path("/data/a.root"))


def test_a_local_path_with_a_colon_slash_slash_is_counted_locally(tmp_path: Path) -> None:
    """Before, count.is_url said such a directory was a URL: the file was read as remote."""
    odd = tmp_path / "x:" / "" / "y"
    odd.mkdir(parents=True)
    target = odd / "f.root"
    with uproot.recreate(target) as f:
        f.mktree("tree", {"x": np.int32})
        f["tree"].extend({"x": np.arange(7, dtype=np.int32)})
    text = f"{tmp_path}/x://y/f.root"
    assert Path(text).exists()
    assert not is_url(text)
    assert file_key(text) is not None  # before: None, so the file was never cached
    assert parse_path(text).stem == "f.root"
    rec = count_file(text, mode="fast", names="none")  # before: opened as a URL, io_error
    assert (rec.status, rec.n_entries, rec.size_bytes) == ("ok", 7, target.stat().st_size)


def test_xrootd_timeout_is_whole_seconds() -> None:
    assert source_timeout("root://h//f.root", 2.2) == 3
    assert source_timeout("root://h//f.root", 0.1) == 1
    assert source_timeout("https://h/f.root", 2.2) == 2.2


@given(st.text(alphabet=st.characters(blacklist_characters=":"), max_size=40))
def test_no_scheme_is_local(text: str) -> None:
    assert access(text) == ("local", text)
