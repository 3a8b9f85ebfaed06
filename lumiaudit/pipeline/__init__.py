"""The pipeline: :func:`audit` runs the stages, :class:`Audit` holds (and writes, loads) the result.

- :mod:`lumiaudit.pipeline.result`: the :class:`Audit` dataclass, its views, plots and I/O;
- :mod:`lumiaudit.pipeline.run`: :func:`audit` and its steps;
- :mod:`lumiaudit.pipeline.inputs`: input paths, digests and the experiment/run-range cut.

Example (not a doctest: it counts the bundled example and writes a directory)::

    import lumiaudit
    a = lumiaudit.audit(online="data/example/elog", offline="data/example/prod")
    a.runs[a.runs.flagged]
    print(a.explain(113))
    a.write("reports/my-audit")
"""

from __future__ import annotations

from lumiaudit.pipeline.result import TABLES, Audit
from lumiaudit.pipeline.run import audit
from lumiaudit.store.tables import write_csv

__all__ = ["TABLES", "Audit", "audit", "write_csv"]
