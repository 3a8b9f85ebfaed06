"""Belle II file names and directory layout: the facts a path tells before any byte is read.

Rules from ``shared/DOMAIN.md`` (basf2 / KEKCC conventions):

- raw: ``physics.0008.01925.HLT3.f00010.root`` = run type . experiment . run . HLT unit . file
  index; newer ``HLT03``, an optional ``.pNN`` process number, ``.sroot`` for the old format,
  ``r04794`` in the run field of early data;
- processed: the raw stem behind a data level (``mdst.physics....``), skims append their name;
- grid: ``mdst_000123_prod00012345_task10020000123.root`` carries no run;
- layout ``.../eEEEE/<dataset>/[GoodRuns/|BadRuns/]rRRRRR[_bad]/<all|skim/NAME>/<level>/subNN/``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from lumiaudit.offline.access import access

__all__ = ["MARKERS", "FileName", "is_ambiguous_run", "join_markers", "parse_path"]

#: Path markers recorded in the ``markers`` column (``skim:<name>`` carries the skim name).
MARKERS = ("bad_suffix", "badruns_dir", "goodruns_dir", "uglyruns_dir", "grid", "symlink")

_RAW = re.compile(
    r"""^(?:(?P<level>[A-Za-z]+)\.)?          # data level of processed files (mdst., cdst.)
    (?P<run_type>[A-Za-z]+)\.
    (?P<experiment>\d{4})\.
    r?(?P<run>\d{5})\.                       # early data: r04794
    HLT(?P<hlt>\d{1,2})\.
    (?:p(?P<process>\d{1,3})\.)?
    f(?P<index>\d{5})
    (?:[._](?P<skim>[A-Za-z0-9][A-Za-z0-9_-]*))?
    (?i:\.s?root)$""",  # suffix in any case (see discover)
    re.VERBOSE,
)
_GRID = re.compile(
    r"^(?P<level>[A-Za-z]+)_(?P<seq>\d+)_prod(?P<prod>\d+)_task(?P<task>\d+)(?i:\.s?root)$"
)
_EXP_DIR = re.compile(r"^e(\d{4})$")
_RUN_DIR = re.compile(r"^r(\d{5})(_bad)?$")
_VIEW_DIRS = {"BadRuns": "badruns_dir", "GoodRuns": "goodruns_dir", "UglyRuns": "uglyruns_dir"}
_LEVELS = ("raw", "cdst", "mdst", "udst", "dst", "bdst", "sroot")


@dataclass(frozen=True, slots=True)
class FileName:
    """What a file's path says about its content.

    Attributes
    ----------
    experiment, run
        From the name (or the ``eEEEE`` / ``rRRRRR`` directories); ``None`` when unknown, and
        ``run`` is ``None`` for grid files and prompt datasets under ``r00000``.
    run_type
        ``physics``, ``cosmic``, ... (lower case) or ``None``.
    hlt_unit, process, file_index
        HLT unit, ``.pNN`` process number and per-run, per-unit file index.
    data_level
        ``raw``, ``mdst``, ``cdst``, ``udst``, ... or ``None``.
    skim
        Skim name (from ``skim/NAME/`` or the file name) or ``None``.
    markers
        Layout facts, a subset of :data:`MARKERS` plus ``skim:<name>``, sorted.
    stem
        The file name without directories: the key for duplicate detection.
    """

    experiment: int | None = None
    run: int | None = None
    run_type: str | None = None
    hlt_unit: int | None = None
    process: int | None = None
    file_index: int | None = None
    data_level: str | None = None
    skim: str | None = None
    markers: tuple[str, ...] = ()
    stem: str = ""


def _split(path: str) -> tuple[str, str]:
    """(directory, file name) of a path or URL, with ``/`` separators and no host."""
    where = access(path)
    path = where.path
    if where.remote:
        path = path.split("://", 1)[1]
        # root://host:port//abs/path and https://host/path: drop the host part
        path = path.split("/", 1)[1] if "/" in path else ""
    directory, _, name = path.replace("\\", "/").rpartition("/")
    return directory, name


@functools.lru_cache(maxsize=65536)
def _dir_facts(directory: str) -> tuple[int | None, int | None, frozenset[str], str | None]:
    """Experiment, run, markers and skim from the directories (cached: files share them)."""
    markers: set[str] = set()
    dir_exp: int | None = None
    dir_run: int | None = None
    skim: str | None = None
    dirs = [d for d in directory.split("/") if d]
    for i, part in enumerate(dirs):
        if (m := _EXP_DIR.match(part)) is not None:
            dir_exp = int(m.group(1))
        elif (m := _RUN_DIR.match(part)) is not None:
            dir_run = int(m.group(1))
            if m.group(2):
                markers.add("bad_suffix")
        elif part in _VIEW_DIRS:
            markers.add(_VIEW_DIRS[part])
        elif part == "skim" and i + 1 < len(dirs):
            skim = dirs[i + 1]
    return dir_exp, dir_run, frozenset(markers), skim


def parse_path(path: str) -> FileName:
    """Parse a Belle II file path (local path or URL) into a :class:`FileName`.

    Parameters
    ----------
    path
        The path or URL; only its text is used, nothing is read.

    Returns
    -------
    FileName
        Everything the name and layout say; unknown fields are ``None``.

    Examples
    --------
    >>> f = parse_path("e0008/4S/r01925_bad/all/mdst/sub00/"
    ...                "mdst.physics.0008.01925.HLT3.f00010.root")
    >>> f.run, f.hlt_unit, f.file_index, f.data_level, f.markers
    (1925, 3, 10, 'mdst', ('bad_suffix',))
    """
    directory, name = _split(path)
    dir_exp, dir_run, dir_markers, skim = _dir_facts(directory)
    markers = set(dir_markers)
    fields: dict[str, object] = {}
    if (m := _RAW.match(name)) is not None:
        level = m.group("level")
        fields = {
            "experiment": int(m.group("experiment")),
            "run": int(m.group("run")),
            "run_type": m.group("run_type").lower(),
            "hlt_unit": int(m.group("hlt")),
            "process": None if m.group("process") is None else int(m.group("process")),
            "file_index": int(m.group("index")),
            "data_level": level.lower() if level else "raw",
        }
        if m.group("skim"):
            skim = skim or m.group("skim")
    elif (m := _GRID.match(name)) is not None:
        markers.add("grid")
        fields = {"data_level": m.group("level").lower(), "experiment": dir_exp}
    else:
        level = name.split(".", 1)[0].split("_", 1)[0].lower()
        fields = {
            "experiment": dir_exp,
            # r00000 holds prompt datasets of many runs: no run from the layout
            "run": dir_run if dir_run else None,
            "data_level": level if level in _LEVELS else None,
        }
    if skim:
        markers.add(f"skim:{skim}")
    return FileName(
        experiment=fields.get("experiment"),  # type: ignore[arg-type]
        run=fields.get("run"),  # type: ignore[arg-type]
        run_type=fields.get("run_type"),  # type: ignore[arg-type]
        hlt_unit=fields.get("hlt_unit"),  # type: ignore[arg-type]
        process=fields.get("process"),  # type: ignore[arg-type]
        file_index=fields.get("file_index"),  # type: ignore[arg-type]
        data_level=fields.get("data_level"),  # type: ignore[arg-type]
        skim=skim,
        markers=tuple(sorted(markers)),
        stem=name,
    )


def is_ambiguous_run(name: FileName) -> bool:
    """Whether the run of a file cannot be taken from its name (grid files, ``r00000``)."""
    return name.run is None


def join_markers(*groups: tuple[str, ...] | list[str] | set[str]) -> str:
    """Union of marker groups as the ``;``-separated, sorted text of the ``markers`` column."""
    out: set[str] = set()
    for group in groups:
        out.update(m for m in group if m)
    return ";".join(sorted(out))
