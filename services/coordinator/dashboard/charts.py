"""Small inline SVG bar charts, rendered on the server: no front-end package needed.

Labels are names organisations chose (villages, categories): each is escaped here, and the chart
is returned as ``Markup`` so templates need no ``|safe``. SVG markup is not script; the CSP allows
no inline script anyway."""

from html import escape

from markupsafe import Markup

__all__ = ["bar_chart", "paired_columns"]


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


def _text_width(text: str, size: float = 12) -> int:
    """Roughly how wide ``text`` runs at ``size`` px: CJK characters are square, others half."""
    return int(sum(size if ord(c) >= 0x2E80 else size * 0.55 for c in text))


def paired_columns(
    columns: list[tuple[str, float, float]], *, names: tuple[str, str], unit: str = "", height: int = 120
) -> Markup:
    """Two columns per (label, first, second) — e.g. demand and supply per month — on one scale,
    with a legend naming the two."""
    if not columns:
        return Markup('<p class="muted">—</p>')
    top = max(max(first, second) for _, first, second in columns) or 1
    column, base = 16, height + 4
    step = max(46, max(_text_width(label) for label, _, _ in columns) + 12)  # labels never overlap
    width = max(len(columns) * step + 10, 200)
    parts = [
        f'<svg class="chart trend" role="img" width="{width}" height="{height + 40}" '
        f'viewBox="0 0 {width} {height + 40}">'
    ]
    for k, (label, first, second) in enumerate(columns):
        x = 6 + k * step
        for offset, value, kind in ((0, first, "first"), (column + 2, second, "second")):
            tall = max(1.0, height * value / top)
            parts.append(
                f'<rect class="{kind}" x="{x + offset}" y="{base - tall:.1f}" width="{column}" '
                f'height="{tall:.1f}"><title>{escape(label)}: {value:g}{escape(unit)}</title></rect>'
            )
        parts.append(f'<text x="{x}" y="{base + 14}">{escape(label)}</text>')
    parts.append(
        f'<rect class="first" x="6" y="{base + 22}" width="10" height="10"></rect>'
        f'<text x="20" y="{base + 31}">{escape(names[0])}</text>'
        f'<rect class="second" x="90" y="{base + 22}" width="10" height="10"></rect>'
        f'<text x="104" y="{base + 31}">{escape(names[1])}</text></svg>'
    )
    return Markup("".join(parts))  # every interpolated label is escaped above
