"""The one formatting policy for numbers people read (CLI, explain text, tickets, report, plots).

Every number a user reads goes through :func:`fmt`, so that a count is never printed as a float
(``1.023e+04``) and missing is never ``<NA>``, ``nan`` or ``0``:

- ``count``: an event or file count, an integer with thousands separators (``10,231``);
- ``signed``: a difference, with its sign (``+700``, ``-91``, ``0``);
- ``run``/``id``: a run or experiment number, an integer without separators (``3012``);
- ``ratio``: a ratio near 1, with 5 significant decimals (``0.98791``);
- ``percent``: a fraction shown as a percentage (``1.21 %``);
- ``lumi``: an integrated luminosity in nb^-1 with a readable unit (``12.3 pb^-1``);
- ``float``: anything else, 4 significant digits.

Missing (``None``, NaN, ``pd.NA``, an empty text) is :data:`MISSING` (``n/a``), or the ``missing``
text a caller asks for (the HTML report uses an em dash). A value that is not a number of the kind
asked for is shown as it is (escaped by the caller), never coerced.

This module imports nothing of lumiaudit, nor pandas or numpy, so every layer can use it
(``reconcile/``, which may not import ``render/``, the counting layer's file errors, the CLI at
start-up); ``lumiaudit.render.numbers`` re-exports it. ``tests/test_project.py`` fails when any
other module formats a thousands separator itself (``f"{n:,}"``).

>>> fmt(10231.0), fmt(-91, "signed"), fmt(3012, "run"), fmt(None), fmt(0.012057, "percent")
('10,231', '-91', '3012', 'n/a', '1.21 %')
>>> fmt(12_300.0, "lumi"), fmt(0.98791234, "ratio"), fmt(float("nan"), missing="\u2014")
('12.3 pb^-1', '0.98791', '\u2014')
>>> fmt(2**63 - 1)  # an int keeps every digit (no detour through float)
'9,223,372,036,854,775,807'
"""

from __future__ import annotations

import math
import numbers
from typing import Literal

__all__ = ["KINDS", "MISSING", "Kind", "fmt", "is_missing"]

#: How missing values are shown unless the caller asks for another text.
MISSING = "n/a"

Kind = Literal["count", "signed", "run", "id", "ratio", "percent", "lumi", "float"]
KINDS: tuple[str, ...] = ("count", "signed", "run", "id", "ratio", "percent", "lumi", "float")

# nb^-1 -> the largest unit in which the value is at least 1 (1 fb^-1 = 1e6 nb^-1)
_LUMI_UNITS = (("ab^-1", 1e9), ("fb^-1", 1e6), ("pb^-1", 1e3), ("nb^-1", 1.0), ("ub^-1", 1e-3))


def is_missing(value: object) -> bool:
    """True for None, NaN, ``pd.NA``/``NaT`` and empty or whitespace-only text."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if type(value).__name__ in {"NAType", "NaTType"}:
        return True
    try:
        return bool(value != value)  # noqa: PLR0124 (NaN is the only value unequal to itself)
    except (TypeError, ValueError):
        return False


def _number(value: object) -> float | None:
    """The value as a float when it is a real number (or numeric text), else None."""
    if isinstance(value, bool) or type(value).__name__ in {"bool_", "bool"}:  # numpy's too
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace(",", "").strip())
        except ValueError:
            return None
    try:  # numpy scalars that are not registered as numbers.Real
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _integer(value: object, x: float) -> int | None:
    """The whole number ``value`` is, exactly: an int (or integral text) is taken as it is, so a
    count above 2**53 keeps its digits; a float only when it is integral."""
    if isinstance(value, numbers.Integral):  # bool never gets here (_number refuses it)
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.replace(",", "").strip())
        except ValueError:
            pass
    return int(x) if math.isfinite(x) and x == int(x) else None


def fmt(value: object, kind: Kind = "count", *, missing: str = MISSING) -> str:
    """Format ``value`` for people, following the module's policy.

    Parameters
    ----------
    value
        A number (int, float, numpy scalar, numeric text) or a missing value.
    kind
        One of :data:`KINDS`.
    missing
        The text for a missing value.

    Returns
    -------
    str
        The formatted text. A count or run that is not a whole number is shown with its decimals
        rather than rounded, so that a wrong value stays visible.
    """
    if kind not in KINDS:
        msg = f"fmt: unknown kind {kind!r}; expected one of {', '.join(KINDS)}"
        raise ValueError(msg)
    if is_missing(value):
        return missing
    x = _number(value)
    if x is None:
        return str(value)
    if not math.isfinite(x):
        return "inf" if x > 0 else "-inf"
    if kind in {"count", "signed", "run", "id"}:
        n = _integer(value, x)
        if n is None:
            return f"{x:,.6g}" if kind in {"count", "signed"} else f"{x:.6g}"
        if kind == "count":
            return f"{n:,}"
        if kind == "signed":
            return f"{n:+,}" if n else "0"
        return str(n)
    if kind == "ratio":
        return f"{x:.5f}"
    if kind == "percent":
        return f"{100 * x:.3g} %" if abs(x) < 0.1 else f"{100 * x:.1f} %"
    if kind == "lumi":
        for unit, scale in _LUMI_UNITS:
            if abs(x) >= scale:
                return f"{x / scale:.3g} {unit}"
        return "0 nb^-1" if x == 0 else f"{x / 1e-3:.3g} ub^-1"
    return f"{x:.4g}"
