"""The results as a markdown page, a JSON file and PNG charts, plus the issue's targets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .contestants import CONTESTANTS
from .operations import OPERATIONS, Operation, Sizes
from .runner import Measurement
from .verdicts import ORM_LIMIT, evaluate_targets, index_of, orm_ratios, time_ratio

__all__ = ["rerender", "write_report"]

_LABELS = {
    "raw": "raw driver",
    "core": "SA Core",
    "orm": "SA ORM",
    "sqlrecord": "sqlrecord",
    "orm-psycopg": "SA ORM (psycopg)",
    "sqlrecord-psycopg": "sqlrecord (psycopg)",
    "orm-asyncmy": "SA ORM (asyncmy)",
    "sqlrecord-asyncmy": "sqlrecord (asyncmy)",
    "tortoise": "Tortoise",
    "sqlactive": "sqlactive",
    "orm-defaults": "SA ORM (defaults)",
    "sqlrecord-defaults": "sqlrecord (defaults)",
    "tortoise-defaults": "Tortoise (defaults)",
}


def _rate_cell(m: Measurement | None) -> str:
    if m is None:
        return ""
    if m.status == "n/a":
        return "n/a"
    if m.status == "error":
        return "error"
    return f"{m.median_rate:,.0f}"


def _ratio_cell(ratio: float | None) -> str:
    return "" if ratio is None else f"{ratio:.2f}"


def _tables(measurements: list[Measurement], names: list[str], concurrency: int) -> list[str]:
    index = index_of(measurements)
    keys = [
        op
        for op in OPERATIONS
        if any(m.operation == op.key and m.concurrency == concurrency for m in measurements)
    ]
    head = "| op | what | unit | " + " | ".join(_LABELS[n] for n in names) + " |"
    lines = [head, "|" + "---|" * (3 + len(names))]
    for op in keys:
        cells = [_rate_cell(index.get((op.key, concurrency, n))) for n in names]
        lines.append(f"| {op.key} | {op.title} | {op.unit}/s | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Median time relative to SQLAlchemy ORM (c={concurrency}; lower is faster; "
        "bulk rows also relative to Core):",
        "",
    ]
    lines += [
        "| op | " + " | ".join(_LABELS[n] for n in names) + " | sqlrecord / Core |",
        "|" + "---|" * (2 + len(names)),
    ]
    for op in keys:
        orm = index.get((op.key, concurrency, "orm"))
        cells = [_ratio_cell(time_ratio(index.get((op.key, concurrency, n)), orm)) for n in names]
        core = ""
        if op.bulk:
            core = _ratio_cell(
                time_ratio(
                    index.get((op.key, concurrency, "sqlrecord")),
                    index.get((op.key, concurrency, "core")),
                )
            )
        lines.append(f"| {op.key} | " + " | ".join(cells) + f" | {core} |")
    return lines


def _p95_table(measurements: list[Measurement], names: list[str]) -> list[str]:
    index = index_of(measurements)
    lines = [
        "| op | c | " + " | ".join(_LABELS[n] for n in names) + " |",
        "|" + "---|" * (2 + len(names)),
    ]
    seen: list[tuple[str, int]] = []
    for m in measurements:
        if (m.operation, m.concurrency) not in seen:
            seen.append((m.operation, m.concurrency))
    for key, concurrency in seen:
        cells = []
        for n in names:
            m = index.get((key, concurrency, n))
            if m is None or m.status != "ok":
                cells.append("" if m is None else m.status)
            else:
                data = m.as_dict()
                cells.append(
                    f"{data['median_seconds'] * 1000:,.1f} / {data['p95_seconds'] * 1000:,.1f}"
                )
        lines.append(f"| {key} | {concurrency} | " + " | ".join(cells) + " |")
    return lines


def _against_orm(measurements: list[Measurement]) -> list[str]:
    """Issue 21: sqlrecord's time over the ORM's per operation, tuned rows against tuned and
    defaults rows against defaults; over 1.10 in bold (nothing when neither pair ran)."""
    rows = orm_ratios(measurements)
    if not rows:
        return []

    def cell(ratio: float | None) -> str:
        text = _ratio_cell(ratio)
        return f"**{text}**" if ratio is not None and ratio > ORM_LIMIT else text

    lines = [
        "## sqlrecord / SQLAlchemy ORM, tuned and at defaults (issue 21)",
        "",
        "Median time of sqlrecord over the ORM's: the tuned rows (pools of 10, the ORM with "
        "expire_on_commit=False) and the defaults rows (each library as a new user runs it); "
        f"over {ORM_LIMIT:.2f} in bold.",
        "",
        "| op | c | tuned | defaults |",
        "|---|---|---|---|",
    ]
    for r in rows:
        line = f"| {r['operation']} | {r['concurrency']} | {cell(r['tuned'])} | "
        lines.append(line + f"{cell(r['defaults'])} |")
    return [*lines, ""]


def _markdown(data: dict[str, Any], measurements: list[Measurement], names: list[str]) -> str:
    machine, sizes = data["machine"], data["sizes"]
    lines = [
        f"# Benchmarks: {machine['database']}, {sizes['name']} size",
        "",
        f"{machine['date']}; {machine['cpu']}, {machine['cores']} cores; Python "
        f"{machine['python']}; {machine['server']}.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(data["versions"].items())) + ".",
        "",
        f"Sizes: {json.dumps(sizes)}.",
        "",
        "Median of the repeats, rows (or objects, or count+exists pairs) per second; higher is "
        "faster. n/a: the contestant has no such operation.",
        "",
    ]
    for concurrency in sorted({m.concurrency for m in measurements}):
        lines += [f"## Concurrency {concurrency}", ""]
        lines += [*_tables(measurements, names, concurrency), ""]
    lines += _against_orm(measurements)
    lines += [
        "## Targets (issues 5 and 21)",
        "",
        "| target | limit | measured | verdict |",
        "|---|---|---|---|",
    ]
    for v in data["targets"]:
        verdict = "pass" if v["pass"] else "**miss**"
        lines.append(f"| {v['target']} | {v['limit']:.2f} | {v['ratio']:.2f} | {verdict} |")
    if data["memory"]:
        lines += [
            "",
            "## Peak RSS (child process per measurement)",
            "",
            "| contestant | mode | rows | peak RSS MiB | before the read MiB |",
            "|---|---|---|---|---|",
        ]
        for r in data["memory"]:
            lines.append(
                f"| {_LABELS[r['contestant']]} | {r['mode']} | {r['requested']:,} | "
                f"{r['peak_kib'] / 1024:.1f} | {r['baseline_kib'] / 1024:.1f} |"
            )
    lines += ["", "## Median / p95 time of one run, ms", "", *_p95_table(measurements, names)]
    errors = [m for m in measurements if m.status == "error"]
    if errors:
        lines += ["", "## Errors", ""]
        lines += [f"- {m.operation} c={m.concurrency} {m.contestant}: {m.note}" for m in errors]
    return "\n".join(lines) + "\n"


def _charts(
    out: Path,
    stem: str,
    measurements: list[Measurement],
    names: list[str],
    memory: list[dict[str, Any]],
    title: str,
) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written, index = [], index_of(measurements)
    for concurrency in sorted({m.concurrency for m in measurements}):
        keys = [op.key for op in OPERATIONS if (op.key, concurrency, "orm") in index]
        figure, axes = plt.subplots(figsize=(14, 5.5))
        width = 0.8 / len(names)
        for n, name in enumerate(names):
            values = [
                (index[(k, concurrency, name)].median_rate or 0)
                if (k, concurrency, name) in index
                else 0
                for k in keys
            ]
            axes.bar([x + n * width for x in range(len(keys))], values, width, label=_LABELS[name])
        axes.set_yscale("log")
        axes.set_xticks([x + 0.4 - width / 2 for x in range(len(keys))], keys, rotation=45)
        axes.set_ylabel("rows per second (log scale)")
        axes.set_title(f"{title}, concurrency {concurrency}")
        axes.legend(ncols=len(names), fontsize=8)
        figure.tight_layout()
        path = out / f"{stem}-c{concurrency}.png"
        figure.savefig(path, dpi=90)
        plt.close(figure)
        written.append(path.name)
    figure, axes = plt.subplots(figsize=(14, 5))
    labels, ratios = [], []
    for m in measurements:
        if m.contestant == "sqlrecord":
            ratio = time_ratio(m, index.get((m.operation, m.concurrency, "orm")))
            if ratio is not None:
                labels.append(f"{m.operation} c{m.concurrency}")
                ratios.append(ratio)
    axes.bar(labels, ratios, color=["tab:green" if r <= ORM_LIMIT else "tab:red" for r in ratios])
    axes.axhline(ORM_LIMIT, color="black", linestyle="--", label="target 1.10")
    axes.axhline(1.0, color="grey", linewidth=0.8)
    axes.set_yscale("log")  # one outlier (B) must not flatten the rest
    axes.set_ylabel("sqlrecord time / SQLAlchemy ORM time (log scale)")
    axes.set_title(f"{title}: sqlrecord relative to idiomatic SQLAlchemy ORM (lower is better)")
    axes.tick_params(axis="x", rotation=60)
    axes.legend()
    figure.tight_layout()
    path = out / f"{stem}-ratio.png"
    figure.savefig(path, dpi=90)
    plt.close(figure)
    written.append(path.name)
    if memory:
        figure, axes = plt.subplots(figsize=(9, 4.5))
        groups = list(dict.fromkeys((r["mode"], r["requested"]) for r in memory))
        contestants = list(dict.fromkeys(r["contestant"] for r in memory))
        width = 0.8 / len(groups)
        for g, (mode, rows) in enumerate(groups):
            values = [
                next(
                    (
                        r["peak_kib"] / 1024
                        for r in memory
                        if r["contestant"] == c and (r["mode"], r["requested"]) == (mode, rows)
                    ),
                    0,
                )
                for c in contestants
            ]
            axes.bar(
                [x + g * width for x in range(len(contestants))],
                values,
                width,
                label=f"{mode} {rows:,} rows",
            )
        axes.set_xticks(
            [x + 0.4 - width / 2 for x in range(len(contestants))],
            [_LABELS[c] for c in contestants],
        )
        axes.set_ylabel("peak RSS of the process, MiB")
        axes.set_title(f"{title}: peak memory, streaming vs all()")
        axes.legend()
        figure.tight_layout()
        path = out / f"{stem}-memory.png"
        figure.savefig(path, dpi=90)
        plt.close(figure)
        written.append(path.name)
    return written


def write_report(
    out: Path,
    *,
    machine: dict[str, Any],
    versions: dict[str, str],
    sizes: Sizes,
    measurements: list[Measurement],
    memory: list[dict[str, Any]],
    charts: bool = True,
) -> Path:
    """Write ``<db>-<size>.md``, ``.json`` and the charts into ``out``; return the page."""
    out.mkdir(parents=True, exist_ok=True)
    names = [n for n in CONTESTANTS if any(m.contestant == n for m in measurements)]
    stem = f"{machine['database']}-{sizes.name}"
    data: dict[str, Any] = {
        "machine": machine,
        "versions": versions,
        "sizes": sizes.__dict__,
        "targets": evaluate_targets(measurements, memory),
        "memory": memory,
        "measurements": [m.as_dict() for m in measurements],
        "operations": {op.key: _describe(op) for op in OPERATIONS},
    }
    (out / f"{stem}.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
    page = out / f"{stem}.md"
    text = _markdown(data, measurements, names)
    if charts:
        images = _charts(
            out, stem, measurements, names, memory, f"{machine['database']} ({sizes.name})"
        )
        text += "\n## Charts\n\n" + "\n".join(f"![{i}]({i})" for i in images) + "\n"
    page.write_text(text)
    return page


def _describe(op: Operation) -> dict[str, Any]:
    return {
        "title": op.title,
        "method": op.method,
        "model": op.model,
        "group": op.group,
        "unit": op.unit,
        "per_item": op.per_item,
    }


def rerender(path: Path) -> Path:
    """Write a results page and its charts again from its JSON file (no measuring)."""
    data = json.loads(path.read_text())
    keep = {"operation", "contestant", "concurrency", "rows", "seconds", "status", "note"}
    measurements = [
        Measurement(**{k: v for k, v in m.items() if k in keep}) for m in data["measurements"]
    ]
    sizes = Sizes(**data["sizes"])
    return write_report(
        path.parent,
        machine=data["machine"],
        versions=data["versions"],
        sizes=sizes,
        measurements=measurements,
        memory=data["memory"],
    )


if __name__ == "__main__":
    import sys

    for argument in sys.argv[1:]:
        print(f"Wrote {rerender(Path(argument))}")
