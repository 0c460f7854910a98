"""Read an asv (0.6) results folder into rows of the attnbench results schema.

Layout (written by ``asv run``)::

    <results>/benchmarks.json                    # optional: benchmark metadata, param_names
    <results>/<machine>/machine.json             # {"machine": ..., "cpu": ..., "version": 1}
    <results>/<machine>/<commit8>-<env>.json     # {"commit_hash", "date", "params", "python",
                                                 #  "env_name", "result_columns", "results", "version": 2}

``results[name]`` is a row aligned with ``result_columns``; its ``result`` entry lists one value per
combination of ``params`` (``itertools.product`` order), None where the benchmark failed and NaN where
asv did not run it (a combination the benchmark skips, one that ``-b`` left out, a figure the device
cannot give: asv stores no reason). attnbench's benchmarks take ``param_names == ["variant",
"seq_len", "memory", "top_k", "task", "threads"]`` (values stored as ``repr`` strings, ``'none'``
where an axis does not apply); the method name (the last dotted component) says which schema column a
value fills, ``track_inverse_score`` filling ``score`` with 1/value. Several methods of one
configuration merge into one row.

One commit is read: the one asked for (a hash or a prefix of one), else, on each machine, the newest
(by commit date) of those on the branch asv.conf.json configures, when the results folder is that
configuration's ``results_dir`` inside a git checkout, else the newest. Every environment's results of
that commit are read (``-E existing`` ones beside the virtualenv ones); a note says which commit.
"""

from __future__ import annotations

import ast
import datetime as dt
import itertools
import json
import math
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd

from attnbench.config import axis_label
from attnbench.errors import UsageError
from attnbench.schema import COLUMNS, METRIC_COLUMNS

# what results without benchmarks.json are read with: the first len(params) of these (older suites had four)
PARAM_NAMES = ("variant", "seq_len", "memory", "top_k", "task", "threads")
METHOD_COLUMNS = {"time_forward": "fwd_time_s", "time_step": "step_time_s", "peakmem_step": "rss_peak_bytes"}
IQR_COLUMNS = {"fwd_time_s": "fwd_time_iqr_s", "step_time_s": "step_time_iqr_s"}
INVERSE_METHODS = {"track_inverse_score": "score"}  # asv tracks lower-is-better figures; these are 1/column
SKIP_FILES = {"machine.json", "benchmarks.json"}
NOT_RUN = "not run by asv (a skipped combination, one that -b left out, or a figure this device cannot give)"


def column_of(benchmark: str) -> str | None:
    """The schema column an asv benchmark fills, from its method name; None if it is not one of ours."""
    method = benchmark.rsplit(".", 1)[-1]
    if method in METHOD_COLUMNS:
        return METHOD_COLUMNS[method]
    if method in INVERSE_METHODS:
        return INVERSE_METHODS[method]
    if method.startswith("track_") and method[len("track_") :] in METRIC_COLUMNS:
        return method[len("track_") :]
    return None


def machine_dirs(path: Path) -> list[Path]:
    """The machine folders of an asv results folder (``path`` itself if it is one); [] if none."""
    if (path / "machine.json").is_file():
        return [path]
    if not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if p.is_dir() and (p / "machine.json").is_file())


def is_asv_results(path: Path) -> bool:
    """Whether ``path`` looks like an asv results folder (or one machine folder of it)."""
    return bool(machine_dirs(Path(path)))


def parse_param(text: Any) -> Any:
    """An asv parameter value (a ``repr`` string) as a Python value; ``'none'`` becomes None."""
    value = text
    if isinstance(text, str):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
    if isinstance(value, str):
        if value.strip().lower() in ("none", "null", ""):
            return None
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return value
    return value


def _param_names(results_root: Path) -> dict[str, list[str]]:
    try:
        meta = json.loads((results_root / "benchmarks.json").read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(meta, dict):
        return {}
    return {k: list(v.get("param_names") or []) for k, v in meta.items() if isinstance(v, dict)}


def _commit_of(path: Path, data: dict[str, Any]) -> str:
    return str(data.get("commit_hash") or path.stem.partition("-")[0])


def branch_commits(root: Path) -> tuple[str, set[str]] | None:
    """(branch, its commits) when ``root`` is the ``results_dir`` of an asv.conf.json in a git checkout.

    The configuration is looked for in ``root``'s three nearest parent folders; its first ``branches``
    entry (else HEAD) is listed with ``git rev-list``. None when there is no such configuration or git
    cannot list the branch.
    """
    from asv.util import load_json

    root = root.resolve()
    for conf_dir in list(root.parents)[:3]:
        conf_file = conf_dir / "asv.conf.json"
        if not conf_file.is_file():
            continue
        try:
            conf = load_json(str(conf_file), js_comments=True)
        except Exception:  # asv raises its own error types for a damaged file
            return None
        if not isinstance(conf, dict) or (conf_dir / str(conf.get("results_dir", "results"))).resolve() != root:
            continue
        branch = (conf.get("branches") or ["HEAD"])[0]
        repo = (conf_dir / str(conf.get("repo", "."))).resolve()
        try:
            out = subprocess.run(
                ["git", "-C", str(repo), "rev-list", str(branch), "--"],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        return str(branch), set(out.split())
    return None


def choose_commit(
    files: list[tuple[Path, dict[str, Any]]], commit: str | None, branch: tuple[str, set[str]] | None
) -> tuple[str | None, str]:
    """The commit to read from one machine's ``files`` and how it was chosen (for the report's note).

    ``commit`` (a hash or a prefix of one) must match exactly one commit of the files, else
    :class:`UsageError`; without it, the newest by commit date of those on ``branch`` (when given and
    any are), else of all. (None, why) when ``commit`` is not among this machine's files.
    """
    dates: dict[str, float] = {}
    for path, data in files:
        c = _commit_of(path, data)
        dates[c] = max(dates.get(c, 0), data.get("date") or 0)
    if commit:
        matches = sorted(c for c in dates if c.startswith(commit) or commit.startswith(c))
        if len(matches) > 1:
            shown = ", ".join(m[:12] for m in matches)
            raise UsageError(f"commit {commit!r} is ambiguous in the asv results; it matches {shown}")
        if not matches:
            return None, f"no results of commit {commit}"
        return matches[0], "asked for"
    on_branch = {c: d for c, d in dates.items() if branch and any(b.startswith(c) for b in branch[1])}
    pool, how = (on_branch, f"the newest commit on {branch[0]}") if on_branch else (dates, "the newest commit")
    return max(pool, key=lambda c: (pool[c], c)), f"{how} of {len(dates)} in the results"


def _timestamp(ms: Any) -> str | None:
    if not isinstance(ms, (int, float)) or isinstance(ms, bool):
        return None
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).isoformat()


def read_asv(path: str | Path, commit: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Rows (schema columns plus ``source``) of one commit from an asv results folder, and notes for the report.

    ``commit`` is a hash or a prefix of one; None: on each machine the newest on the configured branch
    (see the module's description). A note says which commit each machine's rows are from. Damaged
    result files are skipped and counted in a note. :class:`UsageError` when ``commit`` is in none of
    the machines' results, or matches several commits.
    """
    root = Path(path)
    results_root = root.parent if (root / "machine.json").is_file() else root
    branch = None if commit else branch_commits(results_root)
    names_meta = _param_names(root if (root / "benchmarks.json").exists() else root.parent)
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    notes: list[str] = []
    damaged = ignored = found = 0
    for mdir in machine_dirs(root):
        try:
            machine = json.loads((mdir / "machine.json").read_text())
        except (OSError, ValueError):
            machine = {}
        machine = machine if isinstance(machine, dict) else {}
        files = []
        for file in sorted(mdir.glob("*.json")):
            if file.name in SKIP_FILES:
                continue
            try:
                data = json.loads(file.read_text())
                if not isinstance(data.get("results"), dict) or not isinstance(data.get("result_columns"), list):
                    raise ValueError("not an asv results file")
            except (OSError, ValueError, AttributeError):
                damaged += 1
                continue
            files.append((file, data))
        if not files:
            continue
        picked, how = choose_commit(files, commit, branch)
        if picked is None:
            notes.append(f"asv {mdir.name}: {how}; nothing read from this machine")
            continue
        chosen = [(f, d) for f, d in files if _commit_of(f, d) == picked]
        envs = ", ".join(sorted(str(d.get("env_name") or f.stem.partition("-")[2]) for f, d in chosen))
        notes.append(f"asv {mdir.name}: read commit {picked[:8]} ({how}; environments: {envs})")
        for file, data in chosen:
            ignored += _add_file(rows, file, data, machine, mdir.name, names_meta, str(root))
        found += 1
    if commit and not found:
        raise UsageError(f"commit {commit!r} is not in the asv results in {str(root)!r}")
    if damaged:
        notes.append(f"skipped {damaged} damaged asv result file(s) in {root}")
    if ignored:
        notes.append(f"ignored {ignored} asv benchmark(s) in {root} that fill no attnbench column")
    if any(r["score"] is not None for r in rows.values()) and all(r["higher_is_better"] is None for r in rows.values()):
        notes.append(f"asv results in {root} do not say whether a higher score is better; the report assumes it is")
    for row in rows.values():
        del row["_states"]
        row["missing"] = json.dumps(row["missing"], sort_keys=True) if row["missing"] else None
    frame = pd.DataFrame(list(rows.values()), columns=[*COLUMNS, "source"])
    return frame, notes


def _add_file(
    rows: dict[tuple[Any, ...], dict[str, Any]],
    file: Path,
    data: dict[str, Any],
    machine: dict[str, Any],
    machine_name: str,
    names_meta: dict[str, list[str]],
    source: str,
) -> int:
    """Merge one asv result file into ``rows``; returns the number of benchmarks ignored."""
    ignored = 0
    commit = str(data.get("commit_hash") or "")
    env = str(data.get("env_name") or "")
    for bench, entry in data["results"].items():
        column = column_of(bench)
        cells = dict(zip(data["result_columns"], entry)) if isinstance(entry, list) else {}
        params = cells.get("params") or []
        names = names_meta.get(bench) or list(PARAM_NAMES[: len(params)])
        if column is None or not params or len(names) != len(params):
            ignored += 1
            continue
        combos = list(itertools.product(*params))
        values = cells.get("result")
        values = values if isinstance(values, list) and len(values) == len(combos) else [None] * len(combos)
        q25 = cells.get("stats_q_25") or [None] * len(combos)
        q75 = cells.get("stats_q_75") or [None] * len(combos)
        for combo, value, lo, hi in zip(combos, values, q25, q75):
            config = {n: parse_param(v) for n, v in zip(names, combo)}
            key = (machine_name, env, *sorted((k, str(v)) for k, v in config.items()))
            row = rows.get(key)
            if row is None:
                row = rows[key] = _new_row(config, machine, machine_name, commit, env, data, source)
            if bench.rsplit(".", 1)[-1] in INVERSE_METHODS:
                row.update(higher_is_better=True, score_metric="accuracy")  # attnbench's Accuracy benchmark
                if isinstance(value, (int, float)) and value:
                    value = 1.0 / value
            _set_value(row, column, value, lo, hi)
    return ignored


def _new_row(
    config: dict[str, Any],
    machine: dict[str, Any],
    machine_name: str,
    commit: str,
    env: str,
    data: dict[str, Any],
    source: str,
) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update({k: v for k, v in config.items() if k in row})
    # the label a sweep or `attnbench measure` gives the same configuration (attnbench.config.label)
    label = axis_label(str(config.get("variant")), {"memory": config.get("memory"), "top_k": config.get("top_k")})
    row.update(
        label=label,
        point_id=f"asv:{machine_name}:{commit[:8]}:{env}:{label}:T={config.get('seq_len')}",
        git_commit=commit or None,
        hostname=machine.get("machine", machine_name),
        cpu_model=machine.get("cpu"),
        platform=machine.get("os"),
        python_version=data.get("python"),
        timestamp=_timestamp(data.get("date")),
        source=source,
        missing={},
        _states=[],
    )
    return row


def _set_value(row: dict[str, Any], column: str, value: Any, lo: Any, hi: Any) -> None:
    if value is None:
        row["_states"].append("error")
        row["missing"][column] = "asv benchmark failed"
    elif isinstance(value, float) and math.isnan(value):
        row["_states"].append("skipped")
        row["missing"][column] = NOT_RUN
    else:
        row["_states"].append("ok")
        row[column] = value
        if column in IQR_COLUMNS and isinstance(lo, (int, float)) and isinstance(hi, (int, float)):
            row[IQR_COLUMNS[column]] = hi - lo
    states = row["_states"]
    row["status"] = "ok" if "ok" in states else ("error" if "error" in states else "skipped")
    reasons = sorted(set(row["missing"].values()))
    row["error"] = None if row["status"] == "ok" else "; ".join(reasons)


__all__ = [
    "INVERSE_METHODS",
    "METHOD_COLUMNS",
    "NOT_RUN",
    "PARAM_NAMES",
    "branch_commits",
    "choose_commit",
    "column_of",
    "is_asv_results",
    "parse_param",
    "read_asv",
]
