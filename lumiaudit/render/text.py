"""The evidence of one run in plain words (what ``lumiaudit explain`` prints)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from lumiaudit.numbers import Kind, fmt
from lumiaudit.reconcile._common import _fnum, _i, _int
from lumiaudit.render.cells import reason_events_text


def _table(tables: Any, name: str) -> pd.DataFrame:
    value = tables.get(name) if isinstance(tables, Mapping) else getattr(tables, name, None)
    return value if isinstance(value, pd.DataFrame) else pd.DataFrame()


def _select(df: pd.DataFrame, run: int, experiment: int | None) -> pd.DataFrame:
    if len(df) == 0 or "run" not in df:
        return df.iloc[0:0]
    mask = df["run"].astype("Int64") == run
    if experiment is not None and "experiment" in df:
        mask &= df["experiment"].astype("Int64") == experiment
    return df[mask.fillna(False)]


def _fmt(x: object, kind: Kind = "count") -> str:
    """Every number of the text through the one policy: a count read back as a float or as
    text is still ``10,231`` (never ``1.023e+04`` or ``5883``); dates and words as they are."""
    return fmt(x, kind)


def explain_run(tables: Any, run: int, experiment: int | None = None) -> str:
    """The evidence for one run, in plain words.

    Parameters
    ----------
    tables
        An :class:`lumiaudit.audit.Audit` or a mapping of table name to DataFrame (``runs``,
        ``files``, ``gaps``, ``online_entries``, ``conflicts``, ``contributions``).
    run
        Run number.
    experiment
        Experiment number (needed only when several experiments have that run).

    Returns
    -------
    str
        A multi-line text: the verdict, the counts and their arithmetic, the files by HLT unit
        and index with their statuses, the gaps, error-flag counts, the elog entries (MIDs and
        typed text) and the conflicts.

    Raises
    ------
    ParameterError
        When the run is not in the runs table or is ambiguous.
    """
    from lumiaudit.errors import ParameterError

    runs = _select(_table(tables, "runs"), run, experiment)
    if len(runs) == 0:
        raise ParameterError(
            f"run {run} is not in this audit"
            + (f" (experiment {experiment})" if experiment else "")
        )
    exps = sorted({_i(e) for e in runs["experiment"].dropna()})
    if len(exps) > 1:
        msg = f"run {run} exists in experiments {exps}"
        raise ParameterError(msg, hint="pass --experiment")
    r = runs.iloc[0]
    g = r.get
    exp = _int(r["experiment"])
    follows = str(g("follows")) if isinstance(g("follows"), str) else "full"
    lines: list[str] = []
    # a run-only key (profile) has no experiment at all; a Belle II row without one says so
    run_only = _table(tables, "runs")["experiment"].isna().all()
    where = f"experiment {exp}, " if exp is not None else ("" if run_only else "experiment n/a, ")
    head = f"Run {run} ({where}{_fmt(g('run_type'))}): {g('status')}"
    if _truthy(g("flagged")):
        head += ", FLAGGED"
    if _truthy(g("waived")):
        head += f", waived ({g('waiver')})" if isinstance(g("waiver"), str) else ", waived"
    if isinstance(g("severity"), str):
        head += f", severity {g('severity')}"
    lines.append(head)
    lines.append(f"  reasons: {g('reasons') if isinstance(g('reasons'), str) else 'none'}")
    if isinstance(g("reason_events"), str):
        lines.append(f"  events per reason: {reason_events_text(g('reason_events'))}")
    if isinstance(g("evidence"), str):
        lines += [f"  evidence: {note}" for note in str(g("evidence")).split(" | ")]
    n_def = g("n_offline_def")
    if n_def is None or pd.isna(n_def):
        n_def = g("n_offline_full") if follows == "full" else g("n_offline")
    lines += [
        "",
        "Counts",
        f"  online (elog/DAQ):           {_fmt(g('n_online'))}",
        f"  offline entries:             {_fmt(g('n_offline'))}",
        f"  offline error-free (full):   {_fmt(g('n_offline_full'))}",
        f"  the online number follows:   {follows} events",
        f"  diff = online - offline({follows}) = {_fmt(g('n_online'))} - {_fmt(n_def)}"
        f" = {_fmt(g('diff'), 'signed')}  (ratio {_fmt(g('ratio'), 'ratio')})",
    ]
    expl, unexpl = _int(g("explained_events")), _int(g("unexplained_diff"))
    if expl is not None and unexpl is not None:
        lines.append(
            f"  explained {_fmt(expl)} + unexplained {_fmt(unexpl)} = {_fmt(expl + unexpl)}"
        )
    if not pd.isna(g("z_robust")):
        lines.append(
            f"  robust z {_fmt(g('z_robust'), 'float')}, p {_fmt(g('p_value'), 'float')}, "
            f"q {_fmt(g('q_value'), 'float')}, {_fmt(g('significance'), 'float')} sigma"
        )
    if not pd.isna(g("lumi_nb")):
        lines.append(
            f"  luminosity {_fmt(g('lumi_nb'), 'lumi')}: yield online "
            f"{_fmt(g('yield_online'), 'float')}, offline {_fmt(g('yield_offline'), 'float')} "
            "events/nb^-1"
        )
        if not pd.isna(g("lumi_affected_nb")) and _fnum(g("lumi_affected_nb")) > 0:
            lines.append(
                f"  luminosity affected by losses {_fmt(g('lumi_affected_nb'), 'lumi')}, "
                f"unexplained {_fmt(g('lumi_unexplained_nb'), 'lumi')}"
            )
    if isinstance(g("sources"), str):
        lines.append(f"  online sources: {g('sources')} ({_fmt(g('source_verdict'))})")
    if isinstance(g("productions"), str):
        lines.append(f"  productions (never summed): {g('productions')}")
    lines += _file_lines(tables, run, exp, r)
    lines += _gap_lines(tables, run, exp)
    lines += _elog_lines(tables, run, exp)
    return "\n".join(lines) + "\n"


def _truthy(x: object) -> bool:
    return str(x) == "True"


def _file_lines(tables: Any, run: int, exp: int | None, r: pd.Series) -> list[str]:
    files = _select(_table(tables, "files"), run, exp)
    contrib = _select(_table(tables, "contributions"), run, exp)
    all_files = _table(tables, "files")
    if len(contrib) and "path" in contrib and len(all_files):
        extra = set(contrib["path"]) - set(files.get("path", []))
        if extra:
            files = pd.concat([files, all_files[all_files["path"].isin(extra)]])
    lines = ["", f"Files ({len(files)})"]
    if len(files) == 0:
        return [*lines, "  no offline file found for this run"]
    f = files.copy()
    f["_u"] = f["hlt_unit"].astype("Int64") if "hlt_unit" in f else pd.NA
    f["_i"] = f["file_index"].astype("Int64") if "file_index" in f else pd.NA
    for _, fr in f.sort_values(["_u", "_i"], na_position="last").iterrows():
        get = fr.get
        unit = "HLT?" if pd.isna(fr["_u"]) else f"HLT{_i(fr['_u'])}"
        idx = "f?????" if pd.isna(fr["_i"]) else f"f{_i(fr['_i']):05d}"  # basf2's file name
        text = (
            f"  {unit} {idx} {get('status')}: entries {_fmt(get('n_entries'))},"
            f" full {_fmt(get('n_full'))}"
        )
        if not pd.isna(get("n_meta")) and get("n_meta") != get("n_entries"):
            text += f", FileMetaData nEvents {_fmt(get('n_meta'))}"
        dup, error = get("duplicate_of"), get("error")
        # the duplicate's error ("same file name as X") already names X: the path once
        if isinstance(dup, str) and dup and not (isinstance(error, str) and dup in error):
            text += f", duplicate of {dup}"
        if isinstance(get("markers"), str) and get("markers"):
            text += f" [{get('markers')}]"
        if isinstance(get("error"), str) and get("error"):
            text += f" ({get('error')})"
        lines += [text, f"      {get('path')}"]
    flag_cols = [c for c in files.columns if str(c).startswith("n_flag_")]
    counts = {str(c)[len("n_flag_") :]: _i(files[c].fillna(0).sum()) for c in flag_cols}
    counts = {k: v for k, v in counts.items() if v}
    if counts:
        lines.append(
            "  error-flagged events by bit: "
            + ", ".join(f"{k}: {fmt(v)}" for k, v in counts.items())
        )
    n_ent, n_full = _int(r.get("n_offline")), _int(r.get("n_offline_full"))
    if n_ent is not None and n_full is not None and n_ent != n_full:
        lines.append(f"  error-flagged events (entries - full): {fmt(n_ent - n_full)}")
    return lines


def _gap_lines(tables: Any, run: int, exp: int | None) -> list[str]:
    gaps = _select(_table(tables, "gaps"), run, exp)
    lines = ["", f"Gaps ({len(gaps)})"]
    for _, gp in gaps.iterrows():
        unit = "HLT?" if pd.isna(gp.get("hlt_unit")) else f"HLT{_i(gp.get('hlt_unit'))}"
        idx = "whole unit" if pd.isna(gp.get("file_index")) else f"f{_i(gp.get('file_index')):05d}"
        # no events here: the reason's credited amount (above) is the one number for the gap
        lines.append(f"  {gp.get('kind')}: {unit} {idx} missing")
    if len(gaps) == 0:
        lines.append("  none")
    return lines


def _elog_lines(tables: Any, run: int, exp: int | None) -> list[str]:
    entries = _select(_table(tables, "online_entries"), run, exp)
    lines = ["", f"Elog entries ({len(entries)})"]
    for _, e in entries.iterrows():
        chosen = " (chosen)" if _truthy(e.get("chosen")) else ""
        text = e.get("count_text")
        typed = f"typed {text!r}" if isinstance(text, str) else "no count typed"
        problem = e.get("problem")
        why = f"; {problem}" if isinstance(problem, str) and problem else ""
        lines.append(
            f"  {e.get('entry_id')} {_fmt(e.get('entry_date'))} {_fmt(e.get('entry_type'))}:"
            f" {typed} -> {_fmt(e.get('n_online'))}{chosen}{why} [{_fmt(e.get('source'))}]"
        )
    if len(entries) == 0:
        lines.append("  none")
    for _, c in _select(_table(tables, "conflicts"), run, exp).iterrows():
        lines.append(
            f"  conflict: values {c.get('values')} from {c.get('sources')};"
            f" kept {_fmt(c.get('chosen'))} (policy {c.get('policy')})"
        )
    return lines
