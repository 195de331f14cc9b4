"""The owner's report chart: rewards per epoch (stacked bars, ADA, left axis) and stake share
per epoch (lines, %, right axis), as an inline SVG string, and its legend (HTML).

Pure; no float touches an amount: bar heights are integer pixels from integer lovelace, share
positions come from the exact ``Decimal`` shares. Every mark carries ``data-*`` attributes with
the figure it draws (the browser test reads them back with the drawn geometry)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

WIDTH, HEIGHT = 860, 300
LEFT, RIGHT, TOP, BOTTOM = 80, 60, 20, 40  # margins: axes and labels
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f")


@dataclass(frozen=True)
class Series:
    """One account: its rewards (lovelace, None = not known yet) and share per epoch."""

    label: str
    rewards: Mapping[int, int | None]
    shares: Mapping[int, Decimal]


def _ada_tick(lovelace: int) -> str:
    return f"{lovelace // 1_000_000:,}"


def _nice_max(value: int) -> int:
    """The axis top: 1, 2 or 5 times a power of ten ADA, at least ``value`` lovelace."""
    step = 1_000_000
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def chart_svg(epochs: Sequence[int], series: Sequence[Series], *, title: str) -> str:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    totals = [sum(s.rewards.get(e) or 0 for s in series) for e in epochs]
    top = _nice_max(max(totals, default=0) or 1)
    slot_w = plot_w // max(len(epochs), 1)
    bar_w = max(4, slot_w * 3 // 5)
    out = [f'<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
           f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'aria-label="{escape(title)}" data-top-lovelace="{top}" '
           f'data-plot-height="{plot_h}">',
           f"<title>{escape(title)}</title>",
           f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fafafa" '
           'stroke="#ccc"/>']
    for i in range(5):  # gridlines and both axes' ticks
        y = TOP + plot_h - plot_h * i // 4
        out.append(f'<line x1="{LEFT}" y1="{y}" x2="{LEFT + plot_w}" y2="{y}" stroke="#e3e3e3"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4}" text-anchor="end" font-size="11">'
                   f"{_ada_tick(top * i // 4)}</text>")
        out.append(f'<text x="{LEFT + plot_w + 6}" y="{y + 4}" font-size="11">{25 * i}%</text>')
    out.append(f'<text x="14" y="{TOP + plot_h // 2}" font-size="12" transform="rotate(-90 14 '
               f'{TOP + plot_h // 2})" text-anchor="middle">rewards (ADA)</text>')
    out.append(f'<text x="{WIDTH - 8}" y="{TOP + plot_h // 2}" font-size="12" transform='
               f'"rotate(90 {WIDTH - 8} {TOP + plot_h // 2})" text-anchor="middle">'
               "stake share</text>")
    for i, epoch in enumerate(epochs):
        x = LEFT + i * slot_w + (slot_w - bar_w) // 2
        base = TOP + plot_h
        for n, s in enumerate(series):
            amount = s.rewards.get(epoch)
            if not amount:
                continue
            h = plot_h * amount // top
            base -= h
            out.append(f'<rect class="bar" x="{x}" y="{base}" width="{bar_w}" height="{h}" '
                       f'fill="{PALETTE[n % len(PALETTE)]}" data-epoch="{epoch}" '
                       f'data-account="{escape(s.label)}" data-lovelace="{amount}">'
                       f"<title>epoch {epoch}, {escape(s.label)}: {amount:,} lovelace"
                       "</title></rect>")
        out.append(f'<text x="{LEFT + i * slot_w + slot_w // 2}" y="{TOP + plot_h + 16}" '
                   f'text-anchor="middle" font-size="11">{epoch}</text>')
    for n, s in enumerate(series):
        out += _share_line(epochs, s, PALETTE[n % len(PALETTE)], slot_w, plot_h)
    out.append(f'<text x="{LEFT + plot_w // 2}" y="{TOP + plot_h + 34}" text-anchor="middle" '
               'font-size="12">epoch earned</text>')
    out.append("</svg>")
    return "\n".join(out)


def _share_line(epochs: Sequence[int], s: Series, color: str, slot_w: int, plot_h: int
                ) -> list[str]:
    points = []
    for i, epoch in enumerate(epochs):
        share = s.shares.get(epoch)
        if share is None:
            continue
        x = LEFT + i * slot_w + slot_w // 2
        y = (TOP + plot_h - Decimal(plot_h) * share).quantize(Decimal("0.01"))
        points.append((epoch, x, y, share))
    out = []
    if len(points) > 1:
        path = " ".join(f"{x},{y}" for _, x, y, _ in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
    for epoch, x, y, share in points:
        out.append(f'<circle class="share" cx="{x}" cy="{y}" r="3.5" fill="white" '
                   f'stroke="{color}" stroke-width="2" data-epoch="{epoch}" '
                   f'data-account="{escape(s.label)}" data-share="{share}">'
                   f"<title>epoch {epoch}, {escape(s.label)}: share {share * 100:.4f}%"
                   "</title></circle>")
    return out


def legend_html(series: Sequence[Series]) -> str:
    """The chart's legend, as HTML (it wraps where an SVG legend would overflow)."""
    items = "".join(f'<li><span class="swatch" style="background:{PALETTE[n % len(PALETTE)]}">'
                    f"</span>{escape(s.label)}</li>" for n, s in enumerate(series))
    return f'<ul class="legend">{items}</ul>'
