"""Small inline SVG bar charts, rendered on the server: no front-end package needed.

Labels are names organisations chose (villages, categories): each is escaped here, and the chart
is returned as ``Markup`` so templates need no ``|safe``. SVG markup is not script; the CSP allows
no inline script anyway."""

from html import escape

from markupsafe import Markup

__all__ = ["bar_chart"]


def bar_chart(rows: list[tuple[str, float]], *, width: int = 420, bar: int = 22, unit: str = "") -> Markup:
    """Horizontal bars, one per (label, value), largest value filling the width."""
    if not rows:
        return Markup('<p class="muted">—</p>')
    top = max(value for _, value in rows) or 1
    label_width, gap = 150, 6
    height = len(rows) * (bar + gap)
    parts = [
        f'<svg class="chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
    ]
    for k, (label, value) in enumerate(rows):
        y = k * (bar + gap)
        length = max(2.0, (width - label_width - 60) * value / top)
        parts.append(
            f'<text x="{label_width - 6}" y="{y + bar * 0.7}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar}" rx="3"></rect>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + bar * 0.7}">{value:g}{escape(unit)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # every interpolated label is escaped above
