"""``kmemx triage --html DIR``: static pages of a triage run, readable offline.

``DIR/index.html`` is the fleet: the clusters (count, kernels, signature,
message, their dumps) with a bar chart of clusters by count and kernel, and a
timeline of the panics by uptime; ``DIR/dump-NNN.html`` is one dump: its
summary, the crashing stack, a memory breakdown chart (``kmem -i``'s numbers),
the top slab caches and the task states.  Charts are plotly figures; plotly's
JavaScript is written once as ``DIR/plotly.min.js`` and every page loads it
from there, so the pages work without a network.
"""

from __future__ import annotations

import html
import os
from typing import Any

from .record import Cluster, Record

__all__ = ["dump_page_name", "write_html"]

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left;
         vertical-align: top; }
th { background: #e8eef7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font-family: monospace; }
.error { color: #b00; }
.chart { width: 100%; max-width: 1100px; height: 420px; }
"""


def _e(x: Any) -> str:
    return html.escape("-" if x is None or x == "" else str(x))


def dump_page_name(i: int) -> str:
    """The file name of the ``i``-th dump's page."""
    return f"dump-{i:03d}.html"


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title><style>{_STYLE}</style>"
            f"<script src=\"plotly.min.js\"></script></head>\n"
            f"<body>\n{body}\n</body></html>\n")


def _table(table_id: str, columns: list[str], rows: list[list[str]],
           numeric: frozenset[int] = frozenset()) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td class=\"num\">{c}</td>" if i in numeric else f"<td>{c}</td>"
                         for i, c in enumerate(row)) + "</tr>\n"
        for row in rows)
    return f"<table id=\"{table_id}\"><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>"


def _figure(fig: Any, div_id: str) -> str:
    """A plotly figure as a ``<div>`` and its script (plotly.js loaded by the page)."""
    out: str = fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                           default_width="100%", default_height="420px",
                           config={"displaylogo": False, "responsive": True})
    return f"<div class=\"chart\">{out}</div>"


def _names(records: list[Record]) -> dict[str, str]:
    """Each dump's path shown relative to the directory all of them share."""
    paths = [r.path for r in records]
    try:
        base = os.path.commonpath([os.path.dirname(p) for p in paths]) if paths else ""
    except ValueError:  # relative and absolute mixed
        base = ""
    return {p: os.path.relpath(p, base) if base else p for p in paths}


def _signature(sig: str) -> str:
    return sig or "(no crashed task)"


def _fleet(records: list[Record], groups: list[Cluster], pages: dict[str, str],
           go: Any) -> str:
    names = _names(records)
    ok = [r for r in records if r.error is None]
    failed = [r for r in records if r.error is not None]
    parts = [f"<h1>kmemx triage: {len(records)} dumps, {len(groups)} clusters</h1>"]
    rows = []
    for n, c in enumerate(groups):
        links = " ".join(f"<a href=\"{pages[p]}\">{_e(names[p])}</a>" for p in c.dumps)
        rows.append([str(n + 1), str(c.count), _e(", ".join(c.kernels)),
                     f"<code>{_e(_signature(c.signature))}</code>", _e(c.message), links])
    parts.append("<h2>Clusters</h2>")
    parts.append(_table("clusters", ["#", "COUNT", "KERNELS", "SIGNATURE", "MESSAGE", "DUMPS"],
                        rows, frozenset({0, 1})))
    # clusters by count, one bar segment per kernel
    kernels = sorted({r.release or "?" for r in ok})
    labels = [f"#{n + 1} {_signature(c.signature)[:60]}" for n, c in enumerate(groups)]
    fig = go.Figure()
    for kernel in kernels:
        counts = [sum(1 for r in ok if r.signature == c.signature and (r.release or "?") == kernel)
                  for c in groups]
        fig.add_trace(go.Bar(name=kernel, x=counts, y=labels, orientation="h"))
    fig.update_layout(barmode="stack", title="Clusters by count and kernel",
                      xaxis_title="dumps", yaxis={"autorange": "reversed"},
                      margin={"l": 20, "r": 20, "t": 50, "b": 40}, legend_title="kernel")
    parts.append(_figure(fig, "clusters-chart"))
    # the panics by uptime
    panics = [r for r in ok if r.pid is not None and r.uptime is not None]
    fig = go.Figure()
    for kernel in kernels:
        mine = [r for r in panics if (r.release or "?") == kernel]
        if not mine:
            continue
        fig.add_trace(go.Scatter(
            name=kernel, mode="markers", marker={"size": 12},
            x=[r.uptime for r in mine], y=[_signature(r.signature)[:60] for r in mine],
            text=[f"{names[r.path]}: {r.message or ''}" for r in mine],
            hovertemplate="%{text}<br>uptime %{x} s<extra></extra>"))
    fig.update_layout(title=f"Panics by uptime ({len(panics)} of {len(ok)} dumps)",
                      xaxis_title="uptime at the crash (s)",
                      margin={"l": 20, "r": 20, "t": 50, "b": 40}, legend_title="kernel")
    parts.append("<h2>Timeline</h2>")
    parts.append(_figure(fig, "timeline"))
    rows = [[f"<a href=\"{pages[r.path]}\">{_e(names[r.path])}</a>",
             _e(r.release), _e(r.format), _e(f"{r.pid}:{r.comm}" if r.pid is not None else None),
             _e(r.cpu), _e(r.uptime), f"<code>{_e(r.signature)}</code>",
             f"<span class=\"error\">{_e(r.error)}</span>" if r.error else _e(r.message)]
            for r in records]
    parts.append("<h2>Dumps</h2>")
    parts.append(_table("dumps", ["DUMP", "RELEASE", "FORMAT", "TASK", "CPU", "UPTIME",
                                  "SIGNATURE", "MESSAGE"], rows, frozenset({4, 5})))
    if failed:
        parts.append(f"<p class=\"error\" id=\"failed\">{len(failed)} dump(s) could not be "
                     "triaged (their rows say why).</p>")
    return _page("kmemx triage", "\n".join(parts))


def _lines(title: str, items: list[str], elem_id: str) -> str:
    if not items:
        return f"<h3>{_e(title)}</h3><p id=\"{elem_id}\">none</p>"
    body = "\n".join(_e(x) for x in items)
    return f"<h3>{_e(title)}</h3><pre id=\"{elem_id}\">{body}</pre>"


def _dump(r: Record, name: str, go: Any) -> str:
    parts = ["<p><a href=\"index.html\">&larr; fleet</a></p>", f"<h1>{_e(name)}</h1>"]
    if r.error:
        parts.append(f"<p class=\"error\" id=\"error\">{_e(r.error)}</p>")
    summary = [
        ("path", r.path), ("release", r.release), ("build ID", r.build_id),
        ("format", r.format), ("vmlinux", r.vmlinux), ("message", r.message),
        ("task", f"{r.pid}:{r.comm}" if r.pid is not None else None), ("CPU", r.cpu),
        ("signature", r.signature), ("taint", f"{r.taint} {r.taint_flags}".strip()
                                     if r.taint is not None else None),
        ("uptime (s)", r.uptime), ("D-state tasks", r.hung_count),
        ("warnings", "; ".join(r.warnings) if r.warnings else None),
    ]
    parts.append("<h2>Summary</h2>")
    parts.append(_table("summary", ["FIELD", "VALUE"],
                        [[_e(k), _e(v)] for k, v in summary]))
    parts.append("<h2>Crashing stack</h2>")
    if r.stack:
        items = "".join(f"<li><code>{_e(f)}</code></li>" for f in r.stack)
        parts.append(f"<ol id=\"stack\">{items}</ol>")
    else:
        parts.append("<p id=\"stack\">no crashed task</p>")
    if r.hung:
        parts.append(_table("hung", ["PID", "COMM", "WAITED (s)"],
                            [[_e(h.pid), _e(h.comm),
                              _e(None if h.waited is None else f"{h.waited:.1f}")]
                             for h in r.hung], frozenset({0, 2})))
    parts.append(_lines("Oops, BUG and WARNING lines", r.oops, "oops"))
    parts.append(_lines("OOM killer lines", r.oom, "oom"))
    parts.append(_lines("Lockup lines", r.lockups, "lockups"))
    m = r.memory
    if m:
        parts.append("<h2>Memory (kmem -i, pages)</h2>")
        buffers, cached, slab = m.get("buffers", 0), m.get("cached", 0), m.get("slab", 0)
        other = max(0, m.get("used", 0) - buffers - cached - slab)
        labels = ["free", "cached", "buffers", "slab", "other used"]
        values = [m.get("free", 0), cached, buffers, slab, other]
        fig = go.Figure(go.Pie(labels=labels, values=values, hole=0.4, sort=False,
                               textinfo="label+percent"))
        fig.update_layout(title=f"Memory breakdown of {m.get('total', 0)} pages",
                          margin={"l": 20, "r": 20, "t": 50, "b": 20})
        parts.append(_figure(fig, "memory-chart"))
        parts.append(_table("memory", ["FIELD", "PAGES"],
                            [[_e(k), _e(v)] for k, v in m.items()], frozenset({1})))
    if r.slabs:
        parts.append("<h2>Top slab caches</h2>")
        parts.append(_table("slabs", ["NAME", "BYTES", "OBJSIZE", "ALLOCATED", "TOTAL"],
                            [[_e(s.name), _e(s.bytes), _e(s.objsize), _e(s.allocated),
                              _e(s.total)] for s in r.slabs], frozenset({1, 2, 3, 4})))
        fig = go.Figure(go.Bar(x=[s.bytes / 1024 for s in r.slabs], y=[s.name for s in r.slabs],
                               orientation="h"))
        fig.update_layout(title="Top slab caches (KiB)", yaxis={"autorange": "reversed"},
                          margin={"l": 20, "r": 20, "t": 50, "b": 40})
        parts.append(_figure(fig, "slabs-chart"))
    if r.states:
        parts.append("<h2>Task states</h2>")
        parts.append(_table("states", ["ST", "TASKS"],
                            [[_e(k), _e(v)] for k, v in r.states.items()], frozenset({1})))
        fig = go.Figure(go.Bar(x=list(r.states), y=list(r.states.values())))
        fig.update_layout(title="Tasks per state (ps's ST)", xaxis_title="state",
                          yaxis_title="tasks", margin={"l": 20, "r": 20, "t": 50, "b": 40})
        parts.append(_figure(fig, "states-chart"))
    return _page(f"kmemx triage: {name}", "\n".join(parts))


def write_html(records: list[Record], groups: list[Cluster], out_dir: str) -> list[str]:
    """Write the fleet page and one page per dump into ``out_dir`` (made if
    needed); the paths written, the fleet page first.

    :raises ImportError: plotly is not installed (``pip install 'kmemx[triage]'``).
    :raises OSError: ``out_dir`` cannot be written.
    """
    import importlib

    # untyped (no stubs): used through Any
    go: Any = importlib.import_module("plotly.graph_objects")
    offline: Any = importlib.import_module("plotly.offline")

    os.makedirs(out_dir, exist_ok=True)
    pages = {r.path: dump_page_name(i) for i, r in enumerate(records)}
    names = _names(records)
    written = []
    js = os.path.join(out_dir, "plotly.min.js")
    with open(js, "w", encoding="utf-8") as f:
        f.write(offline.get_plotlyjs())
    index = os.path.join(out_dir, "index.html")
    with open(index, "w", encoding="utf-8") as f:
        f.write(_fleet(records, groups, pages, go))
    written.append(index)
    for r in records:
        path = os.path.join(out_dir, pages[r.path])
        with open(path, "w", encoding="utf-8") as f:
            f.write(_dump(r, names[r.path], go))
        written.append(path)
    written.append(js)
    return written
