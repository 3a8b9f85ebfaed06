"""JUnit XML of an audit for CI dashboards: one ``<testcase>`` per run (``audit --junit``)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pandas as pd

from lumiaudit.render.cells import (
    _NA,
    _compared,
    _get,
    _int_text,
    _is_na,
    _one_line,
    _q_text,
    _ratio_text,
    _records,
    reason_amounts,
)
from lumiaudit.schema import RunStatus

__all__ = ["junit_xml"]


def junit_xml(runs: pd.DataFrame, *, name: str = "lumiaudit") -> str:
    """Return a JUnit XML report with one testcase per run, for CI dashboards.

    ``classname`` is ``<name>.eEEEE`` (the experiment), ``name`` is ``rRRRRR`` (the run).
    Flagged runs get a ``<failure>`` whose message is the reason codes (with event amounts)
    and whose text gives the counts; ``NOT_AUDITED`` runs get ``<skipped>``; other runs pass.

    Parameters
    ----------
    runs
        Runs table.
    name
        Test suite name.

    Returns
    -------
    str
        An XML document (UTF-8 declaration, ``<testsuites>`` root).

    Examples
    --------
    >>> import pandas as pd
    >>> xml = junit_xml(pd.DataFrame({"experiment": [10], "run": [3000], "status": ["OK"],
    ...                               "flagged": [False]}))
    >>> 'name="r03000"' in xml
    True
    """
    cases = []
    failures = skipped = 0
    for row in _records(runs):
        exp, run = _get(row, "experiment"), _get(row, "run")
        case = ET.Element(
            "testcase",
            {
                "classname": f"{name}.e{'xxxx' if _is_na(exp) else f'{int(exp):04d}'}",
                "name": f"r{_NA if _is_na(run) else f'{int(run):05d}'}",
                "time": "0",
            },
        )
        status = "" if _is_na(_get(row, "status")) else str(_get(row, "status"))
        flagged = _get(row, "flagged")
        if status == RunStatus.NOT_AUDITED.value:
            skipped += 1
            run_type = _get(row, "run_type")
            ET.SubElement(
                case,
                "skipped",
                {
                    "message": _one_line(
                        f"not audited (run type {'?' if _is_na(run_type) else run_type})"
                    )
                },
            )
        elif not _is_na(flagged) and bool(flagged):
            failures += 1
            pairs = reason_amounts(_get(row, "reasons"), _get(row, "reason_events"))
            compared, compared_name = _compared(row, None)
            message = "; ".join(f"{c}={a}" if a else c for c, a in pairs) or status
            failure = ET.SubElement(
                case, "failure", {"message": _one_line(message), "type": _one_line(status)}
            )
            failure.text = _one_line(
                f"status {status}; online {_int_text(_get(row, 'n_online'))}; "
                f"offline {compared_name} {_int_text(compared)}; "
                f"diff {_int_text(_get(row, 'diff'))}; ratio {_ratio_text(_get(row, 'ratio'))}; "
                f"q-value {_q_text(_get(row, 'q_value'))}"
            )
        cases.append(case)
    attrs = {
        "name": name,
        "tests": str(len(cases)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
    }
    root = ET.Element("testsuites", attrs)
    suite = ET.SubElement(root, "testsuite", attrs)
    suite.extend(cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
