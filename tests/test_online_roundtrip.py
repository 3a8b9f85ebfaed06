"""Hypothesis round-trips: random logbooks written in every format read back to the same table;
arbitrary bytes never crash a reader (a result or a LumiauditError, nothing else)."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumiaudit.errors import LumiauditError
from lumiaudit.online import FORMATS, read_online

JST = timezone(timedelta(hours=9))
ATTRS = ["Author", "Subject", "Type", "Category", "Exp number", "Run number", "Num events"]
# Printable text with the characters that break naive parsers: , ; " ' : & < > and non-ASCII.
TEXT = st.text(
    alphabet=st.sampled_from(list("abcXYZ 019,;\"':&<>-=#/[]()üé山田–")), min_size=0, max_size=25
)


@dataclass(frozen=True)
class Entry:
    mid: int
    experiment: int
    run: int
    count: int | None
    style: str
    lumi: float | None
    category: str
    author: str
    subject: str
    body: tuple[str, ...]

    @property
    def date(self) -> datetime:
        return datetime(2021, 3, 1, 8, 0, tzinfo=JST) + timedelta(minutes=37 * self.mid)

    @property
    def typed(self) -> str:
        if self.count is None:
            return ""
        sep = {"plain": "", "comma": ",", "space": " ", "apostrophe": "'"}[self.style]
        return f"{self.count:,}".replace(",", sep) if sep else str(self.count)

    def attrs(self) -> dict[str, str]:
        return {
            "Author": self.author.strip(),
            "Subject": self.subject.strip(),
            "Type": "Run summary",
            "Category": self.category,
            "Exp number": str(self.experiment),
            "Run number": str(self.run),
            "Num events": self.typed,
        }

    def text(self) -> str:
        lines = list(self.body)
        if self.lumi is not None:
            lines.append(f"Integrated Luminosity : {self.lumi:.3f}")
        return "\r\n".join(line.strip() for line in lines)


@st.composite
def logbooks(draw: st.DrawFn) -> list[Entry]:
    runs = draw(st.lists(st.integers(1, 99999), min_size=1, max_size=8, unique=True))
    entries = []
    for mid, run in enumerate(runs, start=1):
        entries.append(
            Entry(
                mid=mid,
                experiment=draw(st.integers(0, 40)),
                run=run,
                count=draw(st.one_of(st.none(), st.integers(0, 10**9))),
                style=draw(st.sampled_from(["plain", "comma", "space", "apostrophe"])),
                lumi=draw(st.one_of(st.none(), st.integers(0, 10**8).map(lambda x: x / 1000))),
                category=draw(st.sampled_from(["Physics", "Cosmic"])),
                author=draw(TEXT),
                subject=draw(TEXT),
                body=tuple(draw(st.lists(TEXT, max_size=3))),
            )
        )
    return entries


def write_logfile(entries: list[Entry], *, raw: bool) -> bytes:
    """elogd's day-file layout (LF headers, CRLF text, last line LF) or Raw (all CRLF)."""
    out = []
    for e in entries:
        head = [f"$@MID@$: {e.mid}", f"Date: {e.date:%a, %d %b %Y %H:%M:%S %z}"]
        head += [f"{k}: {v}" for k, v in e.attrs().items()]
        head += ["Attachment: ", "Encoding: plain", "=" * 40]
        out.append("\n".join(head) + "\n" + e.text() + "\n")
    text = "".join(out)
    if raw:
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    return text.encode("utf-8")


def _csv_value(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if value else ""


def write_csv(entries: list[Entry], *, delimiter: str, with_text: bool) -> bytes:
    """elogd's CSV1/2/3: quoted header, unquoted MID and Date, empty values as nothing."""
    names = ["Message ID", "Date", *ATTRS] + (["Text"] if with_text else [])
    lines = [delimiter.join(f'"{n}"' for n in names)]
    for e in reversed(entries):  # exports are newest first
        cells = [str(e.mid), f"{e.date:%a, %d %b %Y %H:%M:%S %z}".replace(",", " ")]
        cells += [_csv_value(v) for v in e.attrs().values()]
        if with_text and e.text():
            cells.append(_csv_value(e.text()))
        lines.append(delimiter.join(cells))
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _xml(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def write_xml(entries: list[Entry]) -> bytes:
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<!-- ELOGD export.xml -->", "<ELOG_LIST>"]
    for e in reversed(entries):
        out += ["\t<ENTRY>", f"\t\t<MID>{e.mid}</MID>"]
        out.append(f"\t\t<DATE>{e.date:%a, %d %b %Y %H:%M:%S %z}</DATE>")
        out.append("\t\t<ENCODING>plain</ENCODING>")
        for k, v in e.attrs().items():
            tag = "".join(c if c.isalnum() else "_" for c in k)
            out.append(f"\t\t<{tag}>{_xml(v)}</{tag}>")
        out += [f"\t\t<TEXT>{_xml(e.text())}</TEXT>", "\t</ENTRY>"]
    out.append("</ELOG_LIST>")
    return "\n".join(out).encode("utf-8")


def write_rundb(entries: list[Entry]) -> bytes:
    runs = [
        {
            "experiment": e.experiment,
            "run": e.run,
            "run_type": e.category.lower(),
            "statistics": {"nevents": e.count, "lumi_recorded": e.lumi},
            "quality_svd": "good",
        }
        for e in entries
    ]
    half = len(runs) // 2
    pages = [{"results": runs[:half], "next": "page2"}, {"results": runs[half:], "next": None}]
    return json.dumps(pages).encode("utf-8")


def write_table(entries: list[Entry], *, delimiter: str) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["exp", "run", "run_type", "num_events", "lumi", "note"])
    for e in entries:
        lumi = "" if e.lumi is None else f"{e.lumi:.3f}"
        writer.writerow([e.experiment, f"r{e.run:05d}", e.category, e.typed, lumi, e.author])
    return buf.getvalue().encode("utf-8")


WRITERS: dict[str, Callable[[list[Entry]], bytes]] = {
    "dayfile": lambda es: write_logfile(es, raw=False),
    "raw": lambda es: write_logfile(es, raw=True),
    "csv1": lambda es: write_csv(es, delimiter=",", with_text=False),
    "csv2": lambda es: write_csv(es, delimiter=";", with_text=False),
    "csv3": lambda es: write_csv(es, delimiter=";", with_text=True),
    "xml": write_xml,
    "rundb": write_rundb,
    "table": lambda es: write_table(es, delimiter=","),
    "tsv": lambda es: write_table(es, delimiter="\t"),
}
HAS_LUMI = {"dayfile", "raw", "csv3", "xml", "rundb", "table", "tsv"}


@pytest.mark.parametrize("kind", sorted(WRITERS))
@given(entries=logbooks())
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_roundtrip(kind: str, entries: list[Entry]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input"
        path.write_bytes(WRITERS[kind](entries))
        res = read_online(path)
    table = res.table.sort_values(["experiment", "run"]).reset_index(drop=True)
    expected = sorted(entries, key=lambda e: (e.experiment, e.run))
    assert table["experiment"].tolist() == [e.experiment for e in expected]
    assert table["run"].tolist() == [e.run for e in expected]
    got = [None if pd.isna(n) else int(n) for n in table["n_online"]]
    assert got == [e.count for e in expected]
    assert table["run_type"].tolist() == [e.category.lower() for e in expected]
    if kind in HAS_LUMI:
        lumi = [None if pd.isna(x) else round(float(x), 3) for x in table["lumi_nb"]]
        assert lumi == [e.lumi for e in expected]
    else:
        assert table["lumi_nb"].isna().all()
    assert res.conflicts.empty
    assert len(res.problems) == sum(e.count is None for e in entries)
    assert (table["source"] == str(path)).all()


@st.composite
def daq_catalogues(draw: st.DrawFn) -> tuple[bytes, dict[tuple[int, int], int | None]]:
    runs = draw(st.lists(st.integers(1, 9999), min_size=1, max_size=5, unique=True))
    lines = ["name,path,host,runtype,expno,runno,fileno,nevents,nfullevents,size,time_close"]
    sums: dict[tuple[int, int], int | None] = {}
    for run in runs:
        counts = draw(st.lists(st.one_of(st.integers(0, 10**6), st.none()), min_size=1, max_size=4))
        for unit, n in enumerate(counts, start=1):
            name = f"physics.0010.{run:05d}.HLT{unit}.f00000.root"
            cell = "" if n is None else str(n)
            lines.append(f"{name},/raw/r{run:05d},hltsv{unit:02d},physics,10,{run},0,{cell},,1,")
        sums[(10, run)] = None if None in counts else sum(c for c in counts if c is not None)
    return ("\n".join(lines) + "\n").encode(), sums


@given(catalogue=daq_catalogues())
@settings(max_examples=30, deadline=None)
def test_daq_roundtrip(catalogue: tuple[bytes, dict[tuple[int, int], int | None]]) -> None:
    data, sums = catalogue
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "catalogue.csv"
        path.write_bytes(data)
        res = read_online(path)
    got = {
        (int(e), int(r)): (None if pd.isna(n) else int(n))
        for e, r, n in zip(
            res.table["experiment"], res.table["run"], res.table["n_online"], strict=True
        )
    }
    assert got == sums
    assert len(res.daq_files) == data.count(b"\n") - 1


PREFIXES = [
    b"",
    b"$@MID@$: 1\n",
    b'<?xml version="1.0"?><ELOG_LIST>',
    b'{"results": [',
    b"[",
    b'"Message ID","Date","Run number"\r\n',
    b"expno,runno,nevents\n",
    b"exp,run,n_online\n",
    b"\xef\xbb\xbf",
]


@given(
    prefix=st.sampled_from(PREFIXES),
    body=st.binary(max_size=600),
    fmt=st.sampled_from([None, *FORMATS]),
)
@settings(max_examples=80, deadline=None)
def test_arbitrary_bytes_never_crash(prefix: bytes, body: bytes, fmt: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input"
        path.write_bytes(prefix + body)
        try:
            res = read_online(path, format=fmt)
        except LumiauditError as exc:
            message = str(exc)
        else:
            message = ""
    if message:
        assert "\n" not in message
        return
    assert list(res.table.columns)[:2] == ["experiment", "run"]
    assert not res.table["n_online"].lt(0).any()


@given(text=st.text(max_size=400), fmt=st.sampled_from(["elog", "elog-csv", "table", None]))
@settings(max_examples=40, deadline=None)
def test_arbitrary_text_never_crashes(text: str, fmt: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input"
        path.write_text("$@MID@$: 1\nRun number: 5\n" + text, encoding="utf-8")
        try:
            read_online(path, format=fmt)
        except LumiauditError as exc:
            message = str(exc)
        else:
            message = ""
    assert "\n" not in message
