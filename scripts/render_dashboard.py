#!/usr/bin/env python3
"""Render the Grafana dashboard's panels from a real database, without Grafana.

    python scripts/render_dashboard.py --dsn postgresql://grafana:PW@127.0.0.1:5432/indexer \\
        --out /tmp/dashboard.html --screenshot /tmp/dashboard.png

What it does: loads deploy/grafana/dashboards/shared-pool.json, resolves the template
variables by running their queries (or takes --var NAME=VALUE), runs every panel's rawSql
with the variables substituted, applies the panel's "groupingToMatrix" transformation, and
writes one self-contained HTML page (no JavaScript, no network) with a simple SVG bar chart,
stat or table per panel, laid out on the dashboard's 24-column grid. With --screenshot it
asks headless Chromium (/usr/bin/chromium) for a PNG of that page.

What it checks: the dashboard's queries against real data and the privileges of the role in
--dsn (use the read-only role of `indexer db grant` to see what Grafana will see). It is not
Grafana: units, mappings and colours are approximated, and Grafana's own rendering, panel
plugins and provisioning are not exercised. Exit status 1 if a query failed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import html
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from indexer.db.store import DatabaseError, Record, Store, fetch_with_columns

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "shared-pool.json"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars")
# Grafana's "classic" palette, in its order.
PALETTE = ("#7EB26D", "#EAB839", "#6ED0E0", "#EF843C", "#E24D42", "#1F78C1", "#BA43A9",
           "#705DA0", "#508642", "#CCA300", "#447EBC", "#C15C17", "#890F02", "#0A437C")
NAMED_COLORS = {"green": "#73BF69", "red": "#F2495C", "orange": "#FF9830", "yellow": "#FADE2A",
                "blue": "#5794F2", "purple": "#B877D9", "text": "#CCCCDC",
                "transparent": "transparent"}
ROW_PX = 30  # Grafana's grid: one gridPos unit of height is 30 px (plus margins)


# --------------------------------------------------------------------------- variables

_VAR = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]|\$(\w+)")


def substitute(sql: str, variables: dict[str, str]) -> str:
    """Grafana's variable syntaxes: $name, ${name}, [[name]] (raw text) and ${name:sqlstring}
    (quoted, quotes doubled). Unknown names and Grafana's $__macros are left alone."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3) or m.group(4)
        fmt = m.group(2)
        if name not in variables:
            return m.group(0)
        value = variables[name]
        if fmt == "sqlstring":
            return "'" + value.replace("'", "''") + "'"
        if fmt not in (None, "raw", "text"):
            raise ValueError(f"variable format {fmt!r} is not supported by this renderer")
        return value

    return _VAR.sub(repl, sql)


async def resolve_variables(store: Store, dashboard: dict[str, Any],
                            given: dict[str, str]) -> dict[str, str]:
    values = dict(given)
    for var in dashboard.get("templating", {}).get("list", []):
        name = var["name"]
        if name in values:
            continue
        if var.get("type") == "query":
            query = var["query"] if isinstance(var["query"], str) else var["query"]["rawSql"]
            rows = await store.fetch(substitute(query, values))
            if not rows:
                raise SystemExit(f"variable ${name}: its query returned no rows "
                                 f"(an empty database?); pass --var {name}=VALUE")
            values[name] = str(rows[0][0])
        elif var.get("type") in ("constant", "textbox", "custom"):
            values[name] = str(var.get("query", "")).split(",")[0].strip()
    return values


# --------------------------------------------------------------------------- data frames

@dataclass
class Frame:
    names: list[str]
    columns: list[list[Any]]
    error: str | None = None
    sql: str = ""

    @property
    def length(self) -> int:
        return len(self.columns[0]) if self.columns else 0


def frame_from_records(records: list[Record], attributes: list[str]) -> Frame:
    return Frame(list(attributes), [[r[i] for r in records] for i in range(len(attributes))])


def grouping_to_matrix(frame: Frame, options: dict[str, Any]) -> Frame:
    """Grafana's groupingToMatrix: unique row values (in order of appearance) become rows,
    unique column values become columns, holding the value field."""
    row_f, col_f = options.get("rowField", "Time"), options.get("columnField", "Metric")
    val_f = options.get("valueField", "Value")
    idx = {n: i for i, n in enumerate(frame.names)}
    rows, cols = frame.columns[idx[row_f]], frame.columns[idx[col_f]]
    vals = frame.columns[idx[val_f]]
    row_keys = list(dict.fromkeys(rows))
    col_keys = list(dict.fromkeys(cols))
    empty = 0 if options.get("emptyValue") == "zero" else None
    cells: dict[tuple[Any, Any], Any] = {(r, c): v for r, c, v in zip(rows, cols, vals,
                                                                         strict=True)}
    names = [f"{row_f}\\{col_f}"] + [str(c) for c in col_keys]
    columns = [row_keys] + [[cells.get((r, c), empty) for r in row_keys] for c in col_keys]
    return Frame(names, columns, sql=frame.sql)


def apply_transformations(frame: Frame, transformations: list[dict[str, Any]]) -> Frame:
    for t in transformations:
        if t.get("disabled"):
            continue
        if t["id"] == "groupingToMatrix":
            frame = grouping_to_matrix(frame, t.get("options", {}))
        else:
            raise ValueError(f"transformation {t['id']!r} is not supported by this renderer")
    return frame


async def run_panel(store: Store, panel: dict[str, Any],
                    variables: dict[str, str]) -> list[Frame]:
    frames = []
    for target in panel.get("targets", []):
        sql = substitute(target["rawSql"], variables)
        try:
            names, records = await fetch_with_columns(store, sql)
            frame = frame_from_records(records, names)
            frame.sql = sql
            frame = apply_transformations(frame, panel.get("transformations", []))
        except (*DatabaseError, ValueError, KeyError) as exc:
            frame = Frame([], [], error=f"{type(exc).__name__}: {exc}", sql=sql)
        frames.append(frame)
    return frames


# --------------------------------------------------------------------------- formatting

def is_number(v: Any) -> bool:
    return isinstance(v, int | float | Decimal) and not isinstance(v, bool)


def color_of(name: str | None) -> str:
    if not name:
        return NAMED_COLORS["text"]
    return NAMED_COLORS.get(name, name)


def fmt_duration(seconds: float) -> str:
    for limit, unit, div in ((60, "s", 1), (3600, "min", 60), (86400, "hour", 3600)):
        if abs(seconds) < limit:
            return f"{seconds / div:.0f} {unit}" if div == 1 else f"{seconds / div:.2f} {unit}"
    return f"{seconds / 86400:.2f} day"


def fmt_value(v: Any, unit: str | None = None, decimals: int | None = None) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ", timespec="seconds")
    if isinstance(v, dict | list):  # jsonb (the store decodes it): as text, like psql shows it
        return json.dumps(v, ensure_ascii=False)
    if not is_number(v):
        return str(v)
    x = float(v)
    if unit == "percentunit":
        return f"{x * 100:.{2 if decimals is None else decimals}f}%"
    if unit == "s":
        return fmt_duration(x)
    if decimals is not None:
        return f"{x:,.{decimals}f}"
    if isinstance(v, int):
        return f"{v:,}" if unit not in ("none", None) or abs(v) >= 10**6 else str(v)
    return f"{x:,.6f}".rstrip("0").rstrip(".")


@dataclass
class FieldStyle:
    unit: str | None = None
    decimals: int | None = None
    mappings: list[dict[str, Any]] = field(default_factory=list)
    cell_type: str | None = None
    thresholds: list[dict[str, Any]] = field(default_factory=list)


def field_style(panel: dict[str, Any], name: str) -> FieldStyle:
    cfg = panel.get("fieldConfig", {})
    d = cfg.get("defaults", {})
    style = FieldStyle(d.get("unit"), d.get("decimals"), list(d.get("mappings", [])),
                       d.get("custom", {}).get("cellOptions", {}).get("type"),
                       d.get("thresholds", {}).get("steps", []))
    for ov in cfg.get("overrides", []):
        m = ov.get("matcher", {})
        if m.get("id") != "byName" or m.get("options") != name:
            continue
        for prop in ov.get("properties", []):
            pid, value = prop["id"], prop.get("value")
            if pid == "unit":
                style.unit = value
            elif pid == "decimals":
                style.decimals = value
            elif pid == "mappings":
                style.mappings = value
            elif pid == "custom.cellOptions":
                style.cell_type = value.get("type")
            elif pid == "thresholds":
                style.thresholds = value.get("steps", [])
    return style


def mapped(style: FieldStyle, v: Any) -> tuple[str | None, str | None]:
    """(text, colour) from value mappings, if one matches."""
    for m in style.mappings:
        if m.get("type") == "value":
            hit = m.get("options", {}).get(fmt_value(v))
            if hit:
                return hit.get("text"), hit.get("color")
    return None, None


def threshold_color(style: FieldStyle, v: Any) -> str | None:
    if not is_number(v) or not style.thresholds:
        return None
    color = None
    for step in style.thresholds:
        if step.get("value") is None or float(v) >= float(step["value"]):
            color = step.get("color")
    return color


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


# --------------------------------------------------------------------------- panels

def render_table(panel: dict[str, Any], frame: Frame) -> str:
    if frame.length == 0:
        return '<div class="nodata">No data</div>'
    styles = [field_style(panel, n) for n in frame.names]
    head = "".join(f"<th>{esc(n)}</th>" for n in frame.names)
    body = []
    for i in range(frame.length):
        cells = []
        for col, style in zip(frame.columns, styles, strict=True):
            v = col[i]
            text, color = mapped(style, v)
            text = text if text is not None else fmt_value(v, style.unit, style.decimals)
            attr = ' class="num"' if is_number(v) else ""
            if style.cell_type == "color-background" and color:
                attr += f' style="background:{color_of(color)};color:#000"'
            cells.append(f"<td{attr}>{esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def render_stat(panel: dict[str, Any], frame: Frame) -> str:
    if frame.length == 0:
        return '<div class="nodata">No data</div>'
    opts = panel.get("options", {})
    pattern = opts.get("reduceOptions", {}).get("fields", "")
    show_name = opts.get("textMode", "auto") in ("value_and_name", "auto", "name")
    boxes = []
    for name, col in zip(frame.names, frame.columns, strict=True):
        values = [v for v in col if v is not None]
        last = values[-1] if values else None
        if pattern == "" and not is_number(last):
            continue  # Grafana's default: numeric fields only
        if pattern.startswith("/") and not re.search(pattern.strip("/"), name):
            continue
        style = field_style(panel, name)
        text, color = mapped(style, last)
        text = text if text is not None else fmt_value(last, style.unit, style.decimals)
        color = color or threshold_color(style, last)
        bg = (f' style="background:{color_of(color)};color:#000"'
              if opts.get("colorMode") == "background" and color else "")
        label = f'<div class="statname">{esc(name)}</div>' if show_name else ""
        boxes.append(f'<div class="stat"{bg}>{label}<div class="statval">{esc(text or "–")}'
                     "</div></div>")
    return '<div class="stats">' + "".join(boxes) + "</div>"


def nice_max(x: float) -> float:
    if x <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(x))
    for m in (1, 2, 2.5, 5, 10):
        if x <= m * mag:
            return m * mag
    return 10 * mag


def render_barchart(panel: dict[str, Any], frame: Frame, width: int, height: int) -> str:
    if frame.length == 0:
        return '<div class="nodata">No data</div>'
    opts = panel.get("options", {})
    x_idx = next((i for i, c in enumerate(frame.columns)
                  if any(isinstance(v, str) for v in c)), 0)
    categories = [str(v) for v in frame.columns[x_idx]]
    series = [(n, [None if v is None else float(v) for v in c])
              for i, (n, c) in enumerate(zip(frame.names, frame.columns, strict=True))
              if i != x_idx]
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    unit, decimals = defaults.get("unit"), defaults.get("decimals")
    stacked = opts.get("stacking", "none") == "normal"
    if stacked:
        top = max((sum(v for _, vals in series if (v := vals[i]) is not None and v > 0)
                   for i in range(len(categories))), default=0.0)
    else:
        top = max((v for _, vals in series for v in vals if v is not None), default=0.0)
    y_max = float(defaults["max"]) if "max" in defaults else nice_max(top)
    legend_w = 330 if opts.get("legend", {}).get("showLegend", True) else 0
    left, right, top_pad, bottom = 70, 10, 10, 28
    plot_w = max(width - legend_w - left - right, 50)
    plot_h = max(height - top_pad - bottom, 40)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="Inter, Helvetica, Arial, sans-serif" font-size="11">']
    for k in range(6):  # y grid and ticks
        val = y_max * k / 5
        y = top_pad + plot_h - plot_h * k / 5
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
                   'stroke="#2f3238"/>')
        label = fmt_value(val, unit, 0)
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#9fa7b3">'
                   f"{esc(label)}</text>")
    slot = plot_w / max(len(categories), 1)
    group_w = slot * float(opts.get("groupWidth", 0.7))
    n_bars = 1 if stacked else max(len(series), 1)
    bar_w = group_w / n_bars * float(opts.get("barWidth", 0.9))
    for i, cat in enumerate(categories):
        x0 = left + slot * i + (slot - group_w) / 2
        base = 0.0
        for s_idx, (_name, vals) in enumerate(series):
            v = vals[i]
            if v is None or v <= 0:
                continue
            h = plot_h * min(v / y_max, 1.0) if y_max else 0
            color = PALETTE[s_idx % len(PALETTE)]
            if stacked:
                y = top_pad + plot_h - plot_h * min(base / y_max, 1.0) - h
                x = x0 + (group_w - bar_w) / 2
                base += v
            else:
                y = top_pad + plot_h - h
                x = x0 + s_idx * group_w / n_bars
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                       f'fill="{color}" fill-opacity="0.85"><title>{esc(cat)} · '
                       f"{esc(series[s_idx][0])}: {esc(fmt_value(v, unit, decimals))}"
                       "</title></rect>")
        out.append(f'<text x="{left + slot * (i + 0.5):.1f}" y="{top_pad + plot_h + 16}" '
                   f'text-anchor="middle" fill="#9fa7b3">{esc(cat)}</text>')
    out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{top_pad + plot_h}" '
               f'y2="{top_pad + plot_h}" stroke="#9fa7b3"/>')
    if legend_w:
        lx = left + plot_w + 16
        for s_idx, (name, _vals) in enumerate(series):
            ly = top_pad + 6 + s_idx * 17
            if ly > height - 10:
                break
            out.append(f'<rect x="{lx}" y="{ly - 8}" width="12" height="4" '
                       f'fill="{PALETTE[s_idx % len(PALETTE)]}"/>')
            out.append(f'<text x="{lx + 18}" y="{ly - 3}" fill="#ccccdc">{esc(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def render_panel(panel: dict[str, Any], frames: list[Frame], variables: dict[str, str]) -> str:
    grid = panel.get("gridPos", {"x": 0, "y": 0, "w": 24, "h": 8})
    width_px = int(1360 * grid["w"] / 24) - 16
    height_px = grid["h"] * ROW_PX + (grid["h"] - 1) * 8 - 44
    parts = []
    for frame in frames:
        if frame.error:
            parts.append(f'<div class="error">Query failed: {esc(frame.error)}'
                         f"<pre>{esc(frame.sql)}</pre></div>")
        elif panel["type"] == "barchart":
            parts.append(render_barchart(panel, frame, width_px, height_px))
        elif panel["type"] == "stat":
            parts.append(render_stat(panel, frame))
        else:
            parts.append(render_table(panel, frame))
    title = substitute(panel.get("title", ""), variables)
    style = (f'grid-column:{grid["x"] + 1} / span {grid["w"]};'
             f'grid-row:{grid["y"] + 1} / span {grid["h"]}')
    tip = esc(panel.get("description", ""))
    return (f'<section class="panel" style="{style}"><h2 title="{tip}">{esc(title)} '
            f'<small>[{esc(panel["type"])}]</small></h2>'
            f'<div class="body">{"".join(parts)}</div></section>')


CSS = """
body{margin:0;padding:12px 20px;background:#111217;color:#ccccdc;
     font:13px Inter,Helvetica,Arial,sans-serif}
header h1{font-size:18px;margin:4px 0}
header p{margin:2px 0 10px;color:#9fa7b3}
.grid{display:grid;grid-template-columns:repeat(24,1fr);grid-auto-rows:30px;gap:8px;
      width:1360px}
.panel{background:#181b1f;border:1px solid #2c3235;border-radius:3px;overflow:hidden;
       display:flex;flex-direction:column}
.panel h2{font-size:13px;font-weight:500;margin:0;padding:6px 8px;white-space:nowrap;
          overflow:hidden;text-overflow:ellipsis}
.panel h2 small{color:#6e7580;font-weight:400}
.body{flex:1;overflow:hidden;padding:0 8px 6px}
table{border-collapse:collapse;width:100%;font-size:11.5px}
th{text-align:left;color:#6e9fff;font-weight:500;border-bottom:1px solid #2c3235;
   padding:3px 6px;white-space:nowrap}
td{border-bottom:1px solid #22252b;padding:2px 6px;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.stats{display:flex;gap:8px;height:100%}
.stat{flex:1;display:flex;flex-direction:column;justify-content:center;align-items:center;
      border-radius:3px}
.statname{font-size:12px;color:inherit;opacity:.8}
.statval{font-size:26px;font-weight:500}
.nodata{color:#6e7580;padding:20px;text-align:center}
.error{color:#ff7383;white-space:normal}
.error pre{color:#9fa7b3;font-size:10px;white-space:pre-wrap}
"""


def render_page(dashboard: dict[str, Any], variables: dict[str, str],
                sections: list[str], dsn_note: str) -> str:
    var_text = ", ".join(f"${k} = {v}" for k, v in variables.items())
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
        f"<title>{esc(dashboard.get('title', 'dashboard'))}</title><style>{CSS}</style>"
        "</head><body><header>"
        f"<h1>{esc(dashboard.get('title', ''))}</h1>"
        f"<p>{esc(var_text)} · {esc(dsn_note)} · rendered {now} by scripts/render_dashboard.py "
        "(the dashboard's SQL on real data, drawn without Grafana)</p></header>"
        f'<div class="grid">{"".join(sections)}</div></body></html>')


def screenshot(page: Path, png: Path, chromium: str, height: int) -> None:
    with tempfile.TemporaryDirectory(prefix="render-dashboard-") as profile:
        cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
               f"--screenshot={png}", f"--window-size=1400,{height}", page.as_uri()]
        subprocess.run(cmd, check=True, timeout=120, capture_output=True)


def redact(dsn: str) -> str:
    return re.sub(r"(//[^:/@]+):[^@]*@", r"\1:***@", dsn)


async def main_async(args: argparse.Namespace) -> int:
    dashboard = json.loads(Path(args.dashboard).read_text())
    given = dict(v.split("=", 1) for v in args.var)
    store = await Store.connect(args.dsn, max_size=1)
    try:
        variables = await resolve_variables(store, dashboard, given)
        panels = sorted(dashboard.get("panels", []),
                        key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"]))
        sections, failed = [], 0
        for panel in panels:
            frames = await run_panel(store, panel, variables)
            for f in frames:
                status = f"error: {f.error}" if f.error else f"{f.length} rows"
                print(f"panel {panel['id']:>2} {panel['type']:<8} {panel['title']}: {status}",
                      file=sys.stderr)
                failed += bool(f.error)
            sections.append(render_panel(panel, frames, variables))
    finally:
        await store.close()
    out = Path(args.out)
    out.write_text(render_page(dashboard, variables, sections, redact(args.dsn)))
    print(f"wrote {out}", file=sys.stderr)
    if args.screenshot:
        chromium = args.chromium or shutil.which("chromium") or "/usr/bin/chromium"
        if not Path(chromium).exists():
            print(f"no Chromium at {chromium}: skipped the screenshot", file=sys.stderr)
        else:
            bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
            screenshot(out.resolve(), Path(args.screenshot).resolve(), chromium,
                       bottom * (ROW_PX + 8) + 120)
            print(f"wrote {args.screenshot}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn", required=True, help="PostgreSQL DSN (e.g. the read-only role's)")
    ap.add_argument("--dashboard", default=str(DEFAULT_DASHBOARD), help="dashboard JSON")
    ap.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                    help="template variable value (default: the first row of its query)")
    ap.add_argument("--out", default="/tmp/shared-pool-dashboard.html", help="HTML to write")
    ap.add_argument("--screenshot", metavar="PNG", help="also take a PNG with headless Chromium")
    ap.add_argument("--chromium", help="Chromium binary (default: chromium on PATH)")
    return asyncio.run(main_async(ap.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
