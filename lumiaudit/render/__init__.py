"""Presentation of an audit, with no file I/O: tables in, figures, text and markup out.

- :mod:`~lumiaudit.render.plots`: matplotlib figures, each returning a NamedTuple of its artists
  (saved by :mod:`lumiaudit.store.figures`);
- :mod:`~lumiaudit.render.text`: the plain-words explanation of one run;
- :mod:`~lumiaudit.render.tickets`: Markdown and Jira snippets, with their cells in
  :mod:`~lumiaudit.render.cells`;
- :mod:`~lumiaudit.render.junit`: JUnit XML for CI dashboards;
- :mod:`~lumiaudit.render.html`: the HTML pieces of the report.
"""

from __future__ import annotations
