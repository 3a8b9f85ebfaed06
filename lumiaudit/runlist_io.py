"""Run lists in the peers' formats: read and write a :class:`~lumiaudit.runsets.RunLumiSet`.

=============== ========================================================================
``golden-json`` CMS certification JSON, ``{"273150": [[61, 64], [66, 75]], ...}`` as read by
                FWCore's ``LumiList`` and coffea's ``LumiMask``: run -> sorted, disjoint,
                inclusive lumisection ranges. No experiment. A whole run is written
                ``[[1, 2147483647]]``.
``grl-xml``     ATLAS good-runs list, ``LumiRangeCollection / NamedLumiRange /
                LumiBlockCollection / Run / LBRange Start= End=`` as written by AtlRunQuery
                and read by GoodRunsLists' ``TGoodRunsListReader`` (an ``LBRange`` without
                ``End`` is open-ended there: up to 2147483647). lumiaudit records the
                experiment as ``<Metadata Name="Experiment">``, which ATLAS tools ignore.
``iov``         basf2 intervals of validity, one ``exp_low,run_low,exp_high,run_high`` per
                line (the text form of ``Belle2::IntervalOfValidity``, ``-1`` for an open
                end), e.g. a centrally blessed run list. Whole runs only. A line may have
                other fields before the IoV (basf2 ``database.txt``: name, revision, IoV).
``json``        lumiaudit's list ``[{"experiment": 12, "run": 101}, ...]`` (``"ls":
                [[first, last], ...]`` for a part of a run), also ``[101, 102]`` and
                ``{"runs": [...]}``; ``good_runs.json`` of an audit reads as one.
``csv``         ``experiment,run,ls_first,ls_last`` (``experiment`` optional, ``ls_*`` empty
                for a whole run); an audit's ``good_runs.csv`` reads as one.
``text``        (read only) one run per line, ``#`` comments, ``r03001`` allowed.
=============== ========================================================================

Errors are one-line :class:`~lumiaudit.errors.ConfigError` naming the file and the line or
element.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import Any, Final
from xml.sax.saxutils import escape

from lumiaudit.errors import ConfigError, ParameterError
from lumiaudit.runsets import ALL, EXP_MAX, LS_MAX, RUN_MAX, LumiRanges, RunLumiSet
from lumiaudit.store.atomic import write_text
from lumiaudit.store.config import read_config_text

__all__ = ["FORMATS", "detect_format", "format_runlist", "read_runlist", "write_runlist"]

#: Formats :func:`format_runlist` writes (``text`` is read only).
FORMATS: Final = ("golden-json", "grl-xml", "iov", "json", "csv")
_READ_FORMATS: Final = (*FORMATS, "text")

_HINT = "expected golden JSON, GRL XML, basf2 IoVs, JSON, CSV or one run per line"
_IOV = re.compile(r"(-?\d+),(-?\d+),(-?\d+),(-?\d+)$")


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------
def detect_format(text: str) -> str:
    """Guess the format of a run list from its content (see the module docstring)."""
    stripped = text.lstrip()
    if stripped.startswith("<"):
        return "grl-xml"
    if stripped.startswith(("{", "[")):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            return "json"
        if isinstance(doc, dict) and "runs" not in doc:
            return "golden-json"
        return "json"
    for line in text.splitlines():
        item = line.split("#", 1)[0].strip()
        if not item:
            continue
        if _IOV.search(item.split()[-1]) and "run" not in item.lower():
            return "iov"
        if "run" in item.lower().replace(" ", "").split(","):
            return "csv"
        return "text"
    return "text"


def read_runlist(path: str | PathLike[str], *, format: str | None = None) -> RunLumiSet:
    """Read a run list in any of :data:`FORMATS` (or plain text).

    Parameters
    ----------
    path
        The file.
    format
        One of ``golden-json``, ``grl-xml``, ``iov``, ``json``, ``csv``, ``text``; default:
        detected from the content.

    Returns
    -------
    RunLumiSet

    Raises
    ------
    InputNotFoundError
        If the file does not exist.
    ConfigError
        If it cannot be read in that format (file and line or element named).
    """
    p = Path(path)
    text = read_config_text(p, what="run list", hint=_HINT)
    fmt = format or detect_format(text)
    if fmt not in _READ_FORMATS:
        msg = f"unknown run-list format {fmt!r}; use one of {', '.join(FORMATS)}"
        raise ParameterError(msg)
    reader = {
        "golden-json": _read_golden,
        "grl-xml": _read_grl,
        "iov": _read_iov,
        "json": _read_json,
        "csv": _read_csv,
        "text": _read_text,
    }[fmt]
    try:
        return reader(text, p)
    except ParameterError as exc:  # a value out of range, a reversed range ...
        raise ConfigError(exc.message, path=p, hint=exc.hint) from None


def _int(value: Any, path: Path, where: int | str, what: str = "run number") -> int:
    if isinstance(value, bool | float):
        msg = f"not a {what}: {value!r}"
        raise ConfigError(msg, path=path, line=where)
    try:
        return int(str(value).strip().lstrip("rR"))
    except ValueError:
        msg = f"not a {what}: {value!r}"
        raise ConfigError(msg, path=path, line=where) from None


def _json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"not valid JSON: {exc.msg}"
        raise ConfigError(msg, path=path, line=exc.lineno) from None


def _ranges(value: Any, path: Path, where: str) -> list[tuple[int, int]]:
    if not isinstance(value, list) or not value:
        msg = "expected a list of [first, last] lumisection ranges"
        raise ConfigError(msg, path=path, line=where)
    out = []
    for pair in value:
        if not isinstance(pair, list) or len(pair) != 2:
            msg = f"a lumisection range must be [first, last], not {pair!r}"
            raise ConfigError(msg, path=path, line=where)
        first = _int(pair[0], path, where, "lumisection")
        last = _int(pair[1], path, where, "lumisection")
        if not 1 <= first <= last <= LS_MAX:
            msg = f"lumisection range [{first}, {last}] is not 1 <= first <= last <= {LS_MAX}"
            raise ConfigError(
                msg,
                path=path,
                line=where,
            )
        out.append((first, last))
    return out


def _read_golden(text: str, path: Path) -> RunLumiSet:
    doc = _json(text, path)
    if not isinstance(doc, dict):
        msg = "a golden JSON must be an object {run: [[first, last], ...]}"
        raise ConfigError(msg, path=path)
    mapping: dict[tuple[int | None, int], list[tuple[int, int]]] = {}
    for key, value in doc.items():
        where = f"run {key}"
        run = _int(key, path, where)
        mapping.setdefault((None, run), []).extend(_ranges(value, path, where))
    return RunLumiSet.from_mapping(mapping)


def _read_json(text: str, path: Path) -> RunLumiSet:
    doc = _json(text, path)
    if isinstance(doc, dict) and "runs" in doc:
        doc = doc["runs"]
    if isinstance(doc, dict):
        return _read_golden(text, path)
    if not isinstance(doc, list):
        msg = "a run list must be a JSON list or object"
        raise ConfigError(msg, path=path)
    mapping: dict[tuple[int | None, int], Any] = {}
    for i, item in enumerate(doc):
        where = f"item {i}"
        if isinstance(item, dict):
            if "run" not in item:
                msg = "run list entry without 'run'"
                raise ConfigError(msg, path=path, line=where)
            exp_v = item.get("experiment")
            exp = None if exp_v is None else _int(exp_v, path, where, "experiment")
            key = (exp, _int(item["run"], path, where))
            lumis = item.get("ls")
            _merge(mapping, key, ALL if lumis is None else _ranges(lumis, path, where))
        else:
            _merge(mapping, (None, _int(item, path, where)), ALL)
    return RunLumiSet.from_mapping(mapping)


def _merge(mapping: dict[tuple[int | None, int], Any], key: Any, lumis: Any) -> None:
    old = mapping.get(key)
    if old is None or lumis == ALL:
        mapping[key] = lumis
    elif old != ALL:
        mapping[key] = [*old, *lumis]


def _read_csv(text: str, path: Path) -> RunLumiSet:
    import csv
    import io

    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    if "run" not in header:
        msg = "a CSV run list needs a 'run' column"
        raise ConfigError(msg, path=path, line=1)
    col = {name: header.index(name) for name in ("experiment", "run", "ls_first", "ls_last")
           if name in header}  # fmt: skip
    mapping: dict[tuple[int | None, int], Any] = {}
    for lineno, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            msg = (
                f"not a valid CSV run list: line {lineno} has {len(row)} fields, the header "
                f"{len(header)}"
            )
            raise ConfigError(
                msg,
                path=path,
            )
        cells = {name: row[i].strip() for name, i in col.items()}
        exp = (
            _int(cells["experiment"], path, lineno, "experiment")
            if cells.get("experiment")
            else None
        )
        run = _int(cells["run"], path, lineno)
        first, last = cells.get("ls_first", ""), cells.get("ls_last", "")
        if not first and not last:
            _merge(mapping, (exp, run), ALL)
        else:
            _merge(mapping, (exp, run), _ranges([[first or "?", last or "?"]], path, str(lineno)))
    return RunLumiSet.from_mapping(mapping)


def _read_text(text: str, path: Path) -> RunLumiSet:
    runs = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        item = line.split("#")[0].strip().strip(",")
        if item:
            runs.append((None, _int(item, path, lineno)))
    return RunLumiSet.from_runs(runs)


def _iov_bound(exp: int, run: int, *, low: bool) -> tuple[int, int]:
    """basf2 ``IntervalOfValidity`` bounds: ``-1`` is no bound (``checkLowerBound`` /
    ``checkUpperBound``): an open experiment is the first/last one, an open run the
    first/last run of the experiment."""
    if exp < 0:
        return (0, 0) if low else (EXP_MAX, RUN_MAX)
    if run < 0:
        return (exp, 0) if low else (exp, RUN_MAX)
    return exp, run


def _read_iov(text: str, path: Path) -> RunLumiSet:
    out = RunLumiSet()
    for lineno, line in enumerate(text.splitlines(), start=1):
        item = line.split("#", 1)[0].strip()
        if not item:
            continue
        m = _IOV.search(item.split()[-1])
        if m is None:
            msg = f"not an IoV (exp_low,run_low,exp_high,run_high): {item!r}"
            raise ConfigError(
                msg,
                path=path,
                line=lineno,
                hint="-1 stands for an open end",
            )
        e1, r1, e2, r2 = (int(g) for g in m.groups())
        if e1 < 0 and e2 < 0:
            # IntervalOfValidity::empty(): both experiments undefined is an empty interval
            continue
        lo, hi = _iov_bound(e1, r1, low=True), _iov_bound(e2, r2, low=False)
        if lo > hi:
            msg = f"IoV {e1},{r1},{e2},{r2} ends before it starts"
            raise ConfigError(msg, path=path, line=lineno)
        try:
            out = out | RunLumiSet.from_run_range(lo[0], lo[1], hi[0], hi[1])
        except ParameterError as exc:
            raise ConfigError(exc.message, path=path, line=lineno) from None
    return out


def _read_grl(text: str, path: Path) -> RunLumiSet:
    if "<!ENTITY" in text:
        msg = "XML entity declarations are not accepted in a GRL"
        raise ConfigError(msg, path=path)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        line = exc.position[0]
        msg = f"not well-formed XML ({exc})"
        raise ConfigError(msg, path=path, line=line) from None
    if root.tag != "LumiRangeCollection":
        msg = f"XML root element is <{root.tag}>, not <LumiRangeCollection>"
        raise ConfigError(msg, path=path)
    out = RunLumiSet()
    for n, named in enumerate(root.findall("NamedLumiRange"), start=1):
        exp: int | None = None
        for meta in named.findall("Metadata"):
            if meta.get("Name") == "Experiment":
                exp = _int(meta.text or "", path, f"NamedLumiRange {n} Metadata", "experiment")
        mapping: dict[tuple[int | None, int], Any] = {}
        for k, coll in enumerate(named.findall("LumiBlockCollection"), start=1):
            where = f"NamedLumiRange {n} LumiBlockCollection {k}"
            run_el = coll.find("Run")
            if run_el is None or not (run_el.text or "").strip():
                msg = "<LumiBlockCollection> without <Run>"
                raise ConfigError(msg, path=path, line=where)
            run = _int(run_el.text, path, where)
            ranges = []
            for lbr in coll.findall("LBRange"):
                if lbr.get("Start") is None:
                    msg = "<LBRange> without Start"
                    raise ConfigError(msg, path=path, line=f"{where} run {run}")
                # GoodRunsLists: an LBRange without End runs to 2147483647 (= LS_MAX)
                ranges.append([lbr.get("Start"), lbr.get("End", str(LS_MAX))])
            if not ranges:
                msg = f"run {run} has no <LBRange>"
                raise ConfigError(msg, path=path, line=where)
            _merge(mapping, (exp, run), _ranges(ranges, path, f"{where} run {run}"))
        out = out | RunLumiSet.from_mapping(mapping)
    return out


# ---------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------
def _single_experiment(runs: RunLumiSet, fmt: str) -> int | None:
    exps = runs.experiments()
    if len(exps) > 1:
        shown = ", ".join(sorted(f"e{e}" if e is not None else "none" for e in exps))
        msg = f"{fmt} holds one experiment, the run list has {len(exps)} ({shown})"
        raise ParameterError(
            msg,
            hint="write one file per experiment (--experiment N)",
        )
    return next(iter(exps), None)


def _ls_pairs(lumis: LumiRanges) -> list[list[int]]:
    return [[1, LS_MAX]] if lumis == ALL else [[a, b] for a, b in lumis]


def format_runlist(runs: RunLumiSet, fmt: str, *, name: str = "lumiaudit") -> str:
    """The text of a run list in one of :data:`FORMATS`.

    Parameters
    ----------
    runs
        The run set.
    fmt
        ``golden-json``, ``grl-xml``, ``iov``, ``json`` or ``csv``.
    name
        ``<Name>`` of the GRL's ``NamedLumiRange``.

    Raises
    ------
    ParameterError
        If the format cannot hold the set: several experiments in a golden JSON or GRL, runs
        without experiment or with lumisection ranges in IoVs, an open run range anywhere but
        in IoVs.

    Examples
    --------
    >>> print(format_runlist(RunLumiSet.from_mapping({(None, 101): [(1, 3), (7, 9)]}),
    ...                      "golden-json"), end="")
    {"101": [[1, 3], [7, 9]]}
    """
    if fmt == "golden-json":
        _single_experiment(runs, fmt)
        lines = [f'"{run}": {json.dumps(_ls_pairs(lumis))}' for _, run, lumis in runs.runs()]
        return "{" + ",\n ".join(lines) + "}\n"
    if fmt == "grl-xml":
        return _format_grl(runs, name)
    if fmt == "iov":
        return _format_iov(runs)
    if fmt == "json":
        recs: list[dict[str, Any]] = []
        for exp, run, lumis in runs.runs():
            rec: dict[str, Any] = {"experiment": exp, "run": run}
            if lumis != ALL:
                rec["ls"] = _ls_pairs(lumis)
            recs.append(rec)
        return "[\n" + ",\n".join(json.dumps(r) for r in recs) + ("\n]\n" if recs else "]\n")
    if fmt == "csv":
        rows = ["experiment,run,ls_first,ls_last"]
        for exp, run, lumis in runs.runs():
            e = "" if exp is None else str(exp)
            if lumis == ALL:
                rows.append(f"{e},{run},,")
            else:
                rows.extend(f"{e},{run},{a},{b}" for a, b in lumis)
        return "\n".join(rows) + "\n"
    msg = f"unknown run-list format {fmt!r}; use one of {', '.join(FORMATS)}"
    raise ParameterError(msg)


def _format_grl(runs: RunLumiSet, name: str) -> str:
    exp = _single_experiment(runs, "grl-xml")
    listed = list(runs.runs())
    out = [
        '<?xml version="1.0" ?>',
        "<!-- good-runs list written by lumiaudit (ATLAS LumiRangeCollection layout) -->",
        "<LumiRangeCollection>",
        "   <NamedLumiRange>",
        f"      <Name>{escape(name)}</Name>",
        "      <Version>2.1</Version>",
    ]
    if exp is not None:
        out.append(f'      <Metadata Name="Experiment">{exp}</Metadata>')
    out.append(
        f'      <Metadata Name="RunList">{",".join(str(r) for _, r, _ in listed)}</Metadata>'
    )
    for _, run, lumis in listed:
        out.append("      <LumiBlockCollection>")
        out.append(f"         <Run>{run}</Run>")
        out.extend(f'         <LBRange Start="{a}" End="{b}"/>' for a, b in _ls_pairs(lumis))
        out.append("      </LumiBlockCollection>")
    out += ["   </NamedLumiRange>", "</LumiRangeCollection>"]
    return "\n".join(out) + "\n"


def _format_iov(runs: RunLumiSet) -> str:
    lines = ["# basf2 intervals of validity: exp_low,run_low,exp_high,run_high (-1: open end)"]
    for e_lo, r_lo, e_hi, r_hi in runs.run_ranges():
        if e_lo is None or e_hi is None:
            msg = "basf2 IoVs need experiment numbers; the run list has none"
            raise ParameterError(
                msg,
                hint="give the experiment (--experiment N)",
            )
        # basf2 writes an open end as -1 (IntervalOfValidity: "-1 means no bound")
        if (e_hi, r_hi) == (EXP_MAX, RUN_MAX):
            high = "-1,-1"
        else:
            high = f"{e_hi},{-1 if r_hi == RUN_MAX else r_hi}"
        lines.append(f"{e_lo},{r_lo},{high}")
    return "\n".join(lines) + "\n"


def write_runlist(
    runs: RunLumiSet, path: str | PathLike[str], fmt: str, *, name: str = "lumiaudit"
) -> Path:
    """Write :func:`format_runlist` output to ``path`` (atomically: :mod:`lumiaudit.store.atomic`).

    Raises
    ------
    ParameterError
        If the format cannot hold the set (nothing is written).
    OutputError
        If the file cannot be written.
    """
    return write_text(path, format_runlist(runs, fmt, name=name))


def iter_partial(runs: RunLumiSet) -> Iterator[str]:
    """``e12 r101 [LS 1-3,7-9]`` for each run that has only some lumisections."""
    from lumiaudit.runsets import format_lumis

    for exp, run, lumis in runs.partial_runs():
        who = f"r{run}" if exp is None else f"e{exp} r{run}"
        yield f"{who} [LS {format_lumis(lumis)}]"
