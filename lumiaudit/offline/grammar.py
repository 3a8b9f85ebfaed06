"""File-name grammars: what a path says about its content, per profile.

``belle2``
    basf2 / KEKCC names and layout (:func:`lumiaudit.offline.names.parse_path`).
``none``
    The name says nothing (CMS NanoAOD files are GUIDs, grid files carry no run): runs come
    from the run branch of the event content. Only the file name is kept, for duplicates.
a regular expression
    Searched in the path (``/`` separators); its named groups (``experiment``, ``run``,
    ``run_type``, ``hlt_unit``, ``file_index``, ``data_level``, ``skim``) fill the fields,
    e.g. ``run(?P<run>\\d+)_(?P<file_index>\\d+)\\.root$``; a run split over directories is
    ``run_1``, ``run_2``, ... joined in order (CMS ``/000/379/415/`` is run 379415 with
    ``/(?P<run_1>\\d{3})/(?P<run_2>\\d{3})/\\d{5}/[^/]+\\.root$``).
"""

from __future__ import annotations

import functools
import re

from lumiaudit.offline.names import FileName, _dir_facts, _split, parse_path

__all__ = ["parse_name"]

_INT_GROUPS = ("experiment", "run", "hlt_unit", "file_index")


@functools.lru_cache(maxsize=64)
def _compiled(grammar: str) -> re.Pattern[str]:
    return re.compile(grammar)


def parse_name(path: str, grammar: str = "belle2") -> FileName:
    """Parse ``path`` with a file-name ``grammar`` (``belle2``, ``none`` or a regex).

    Examples
    --------
    >>> parse_name("/store/x/0A1B-2C.root", "none").run is None
    True
    >>> parse_name("/d/run000123_f7.root", r"run(?P<run>\\d+)_f(?P<file_index>\\d+)").run
    123
    >>> parse_name("/store/x/000/379/415/00000/A.root",
    ...            r"/(?P<run_1>\\d{3})/(?P<run_2>\\d{3})/\\d{5}/[^/]+\\.root$").run
    379415
    """
    if grammar == "belle2":
        return parse_path(path)
    stem = path.replace("\\", "/").rsplit("/", 1)[-1]
    # a skim/NAME/ directory (DOMAIN.md layout) makes a skim whatever the name grammar says:
    # skims are subsets of all/ with the same stems, never copies of its files (issue 13)
    dir_skim = _dir_facts(_split(path)[0])[3]
    plain = FileName(skim=dir_skim, markers=(f"skim:{dir_skim}",) if dir_skim else (), stem=stem)
    if grammar == "none":
        return plain
    match = _compiled(grammar).search(path.replace("\\", "/"))
    if match is None:
        return plain
    found = {k: v for k, v in match.groupdict().items() if v is not None}
    parts = sorted((k for k in found if re.fullmatch(r"run_\d+", k)), key=lambda k: int(k[4:]))
    if parts and "run" not in found:
        # a run split over directories: CMS /store/.../000/379/415/ is run 379415
        found["run"] = "".join(found[k] for k in parts)
    ints = {k: int(found[k]) for k in _INT_GROUPS if k in found and found[k].isdigit()}
    skim = found.get("skim") or dir_skim
    return FileName(
        experiment=ints.get("experiment"),
        run=ints.get("run"),
        run_type=found["run_type"].lower() if "run_type" in found else None,
        hlt_unit=ints.get("hlt_unit"),
        file_index=ints.get("file_index"),
        data_level=found["data_level"].lower() if "data_level" in found else None,
        skim=skim,
        markers=(f"skim:{skim}",) if skim else (),
        stem=stem,
    )
