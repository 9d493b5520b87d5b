"""Server-rendered SVG charts: no script, no inline style (presentation attributes only), escaped labels."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, PAD = 560, 160, 28
PALETTE = ("#1f5fa8", "#b3261e", "#2e7d32", "#8a5a00", "#6a1b9a", "#00695c")


def line_chart(title: str, labels: Sequence[str], series: dict[str, Sequence[float]], unit: str = "") -> str:
    """A small multi-series line chart with an accessible title and a text legend."""
    top = max((v for values in series.values() for v in values), default=0.0) or 1.0
    n = max(len(labels), 2)
    step = (WIDTH - 2 * PAD) / (n - 1)

    def point(i: int, v: float) -> str:
        return f"{PAD + i * step:.1f},{HEIGHT - PAD - (HEIGHT - 2 * PAD) * v / top:.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" class="chart">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>',
        f'<text x="2" y="{PAD - 8}" font-size="10" fill="#333">{escape(f"{top:g}{unit}")}</text>',
    ]
    for k, (name, values) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        pts = " ".join(point(i, v) for i, v in enumerate(values))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{pts}"/>')
        parts.append(f'<text x="{PAD + 110 * k}" y="{HEIGHT - 6}" font-size="11" fill="{colour}">{escape(name)}</text>')
    if labels:
        parts.append(f'<text x="{PAD}" y="{HEIGHT - PAD + 12}" font-size="9" fill="#333">{escape(labels[0])}</text>')
        parts.append(
            f'<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 12}" font-size="9" fill="#333" text-anchor="end">'
            f"{escape(labels[-1])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(title: str, values: dict[str, float], unit: str = "") -> str:
    """Horizontal bars, one per key (e.g. p95 milliseconds per stage)."""
    rows = list(values.items()) or [("none", 0.0)]
    top = max(v for _, v in rows) or 1.0
    height = 22 * len(rows) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" class="chart">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (name, v) in enumerate(rows):
        y = 5 + 22 * i
        w = (WIDTH - 200) * v / top
        parts.append(f'<text x="0" y="{y + 14}" font-size="11" fill="#222">{escape(name)}</text>')
        parts.append(f'<rect x="110" y="{y}" width="{w:.1f}" height="16" fill="{PALETTE[0]}"/>')
        parts.append(
            f'<text x="{115 + w:.1f}" y="{y + 13}" font-size="11" fill="#222">{escape(f"{v:.1f}{unit}")}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
