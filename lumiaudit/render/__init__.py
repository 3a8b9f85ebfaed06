"""Presentation of an audit, with no file I/O: tables in, figures, text and markup out.

- :mod:`~lumiaudit.render.plots`: matplotlib figures (saved by :mod:`lumiaudit.store.figures`);
- :mod:`~lumiaudit.render.text`: the plain-words explanation of one run;
- :mod:`~lumiaudit.render.tickets`: Markdown and Jira snippets and JUnit XML;
- :mod:`~lumiaudit.render.html`: the HTML pieces of the report.
"""

from __future__ import annotations
