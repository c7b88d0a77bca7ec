"""Charts drawn as SVG on the server: no script, readable by screen readers (title, desc, a table beside)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

# Colours with at least 3:1 contrast against white (WCAG 1.4.11 for graphics).
DONE, OPEN, OVERDUE, GUIDE = "#1f6f3f", "#1f5fa8", "#b3261e", "#202020"


@dataclass(frozen=True, slots=True)
class StackedRow:
    label: str
    done: int
    open: int
    overdue: int

    @property
    def total(self) -> int:
        return self.done + self.open + self.overdue


def progress_chart(rows: Sequence[StackedRow], *, title: str, legend: tuple[str, str, str]) -> Markup:
    """Horizontal stacked bars, one per unit: done, open, overdue (share of the unit's tasks)."""
    bar_height, gap, label_width, bar_width = 22, 10, 160, 360
    height = max(1, len(rows)) * (bar_height + gap) + 40
    width = label_width + bar_width + 90
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="chart-progress-title" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" class="chart">',
        f'<title id="chart-progress-title">{escape(title)}</title>',
    ]
    for index, row in enumerate(rows):
        y = index * (bar_height + gap) + 4
        parts.append(
            f'<text x="{label_width - 8}" y="{y + bar_height * 0.7:.1f}" text-anchor="end" '
            f'font-size="13" fill="#202020">{escape(row.label)}</text>'
        )
        x = float(label_width)
        for count, colour in ((row.done, DONE), (row.open, OPEN), (row.overdue, OVERDUE)):
            if row.total and count:
                share = bar_width * count / row.total
                parts.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{share:.1f}" height="{bar_height}" fill="{colour}"></rect>'
                )
                x += share
        done_pct = 100 * row.done / row.total if row.total else 0
        parts.append(
            f'<text x="{label_width + bar_width + 8}" y="{y + bar_height * 0.7:.1f}" font-size="13" '
            f'fill="#202020">{done_pct:.0f}%</text>'
        )
    legend_y = height - 14
    x = label_width
    for text, colour in zip(legend, (DONE, OPEN, OVERDUE), strict=True):
        parts.append(f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{colour}"></rect>')
        parts.append(f'<text x="{x + 16}" y="{legend_y}" font-size="13" fill="#202020">{escape(text)}</text>')
        x += 20 + 8 * len(text) + 16
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text inside is escaped above


@dataclass(frozen=True, slots=True)
class Bucket:
    label: str
    share: float
    guideline: float


def distribution_chart(buckets: Sequence[Bucket], *, title: str, legend: tuple[str, str]) -> Markup:
    """Vertical bars of the share at each rating, with the guideline's share as a marker line."""
    plot_height, column, left, top = 200, 130, 40, 24
    width = left + column * max(1, len(buckets)) + 20
    height = top + plot_height + 70
    peak = max([100.0 / 2, *(b.share for b in buckets), *(b.guideline for b in buckets)])
    scale = plot_height / peak
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="chart-distribution-title" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" class="chart">',
        f'<title id="chart-distribution-title">{escape(title)}</title>',
        f'<line x1="{left}" y1="{top + plot_height}" x2="{width - 10}" y2="{top + plot_height}" '
        'stroke="#202020"></line>',
    ]
    for index, bucket in enumerate(buckets):
        x = left + index * column + 20
        bar = bucket.share * scale
        parts.append(
            f'<rect x="{x}" y="{top + plot_height - bar:.1f}" width="{column - 40}" height="{bar:.1f}" '
            f'fill="{OPEN}"></rect>'
        )
        guide_y = top + plot_height - bucket.guideline * scale
        parts.append(
            f'<line x1="{x - 8}" y1="{guide_y:.1f}" x2="{x + column - 32}" y2="{guide_y:.1f}" '
            f'stroke="{GUIDE}" stroke-width="3" stroke-dasharray="6 3"></line>'
        )
        parts.append(
            f'<text x="{x + (column - 40) / 2}" y="{top + plot_height - bar - 4:.1f}" text-anchor="middle" '
            f'font-size="12" fill="#202020">{bucket.share:.0f}%</text>'
        )
        parts.append(
            f'<text x="{x + (column - 40) / 2}" y="{top + plot_height + 16}" text-anchor="middle" '
            f'font-size="11" fill="#202020">{escape(bucket.label[:22])}</text>'
        )
    legend_y = height - 18
    parts.append(f'<rect x="{left}" y="{legend_y - 10}" width="12" height="12" fill="{OPEN}"></rect>')
    parts.append(f'<text x="{left + 16}" y="{legend_y}" font-size="13" fill="#202020">{escape(legend[0])}</text>')
    guide_x = left + 40 + 8 * len(legend[0])
    parts.append(
        f'<line x1="{guide_x}" y1="{legend_y - 4}" x2="{guide_x + 20}" y2="{legend_y - 4}" stroke="{GUIDE}" '
        f'stroke-width="3" stroke-dasharray="6 3"></line>'
    )
    parts.append(f'<text x="{guide_x + 26}" y="{legend_y}" font-size="13" fill="#202020">{escape(legend[1])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text inside is escaped above


BANDS = ("low", "middle", "high")


def nine_box_chart(
    counts: dict[tuple[str, str], int],
    *,
    title: str,
    band_labels: tuple[str, str, str],
    axes: tuple[str, str],
) -> Markup:
    """A 3x3 grid: performance left to right, potential bottom to top; each cell its head count."""
    cell, left, top = 110, 90, 16
    width, height = left + 3 * cell + 20, top + 3 * cell + 70
    peak = max([1, *counts.values()])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="chart-ninebox-title" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" class="chart">',
        f'<title id="chart-ninebox-title">{escape(title)}</title>',
    ]
    for column, performance in enumerate(BANDS):
        for row, potential in enumerate(reversed(BANDS)):
            count = counts.get((performance, potential), 0)
            x, y = left + column * cell, top + row * cell
            # Darker blue for fuller cells; white text needs the 4.5:1 of the darkest shades only.
            fill = OPEN if count and count * 2 >= peak else ("#dbe7f5" if count else "#ffffff")
            text = "#ffffff" if fill == OPEN else "#202020"
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell - 4}" height="{cell - 4}" fill="{fill}" stroke="{GUIDE}"></rect>'
            )
            parts.append(
                f'<text x="{x + (cell - 4) / 2}" y="{y + cell / 2 + 6}" text-anchor="middle" font-size="22" '
                f'fill="{text}">{count}</text>'
            )
    for index, label in enumerate(band_labels):
        parts.append(
            f'<text x="{left + index * cell + (cell - 4) / 2}" y="{top + 3 * cell + 16}" text-anchor="middle" '
            f'font-size="12" fill="#202020">{escape(label)}</text>'
        )
        parts.append(
            f'<text x="{left - 8}" y="{top + (2 - index) * cell + cell / 2}" text-anchor="end" '
            f'font-size="12" fill="#202020">{escape(label)}</text>'
        )
    parts.append(
        f'<text x="{left + 1.5 * cell}" y="{top + 3 * cell + 40}" text-anchor="middle" font-size="13" '
        f'fill="#202020">{escape(axes[0])}</text>'
    )
    parts.append(
        f'<text x="12" y="{top + 1.5 * cell}" text-anchor="middle" font-size="13" fill="#202020" '
        f'transform="rotate(-90 12 {top + 1.5 * cell})">{escape(axes[1])}</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text inside is escaped above


@dataclass(frozen=True, slots=True)
class SpendRow:
    label: str
    spend: float
    budget: float | None


def spend_chart(rows: Sequence[SpendRow], *, title: str, legend: tuple[str, str]) -> Markup:
    """Horizontal bars of projected spend per unit with the budget as a marker (red when over)."""
    bar_height, gap, label_width, bar_width = 22, 12, 160, 360
    height = max(1, len(rows)) * (bar_height + gap) + 40
    width = label_width + bar_width + 40
    peak = max([1.0, *(r.spend for r in rows), *(r.budget or 0.0 for r in rows)])
    scale = bar_width / peak
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="chart-spend-title" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" class="chart">',
        f'<title id="chart-spend-title">{escape(title)}</title>',
    ]
    for index, row in enumerate(rows):
        y = index * (bar_height + gap) + 4
        over = row.budget is not None and row.spend > row.budget
        parts.append(
            f'<text x="{label_width - 8}" y="{y + bar_height * 0.7:.1f}" text-anchor="end" '
            f'font-size="13" fill="#202020">{escape(row.label)}</text>'
        )
        parts.append(
            f'<rect x="{label_width}" y="{y}" width="{row.spend * scale:.1f}" height="{bar_height}" '
            f'fill="{OVERDUE if over else DONE}"></rect>'
        )
        if row.budget is not None:
            x = label_width + row.budget * scale
            parts.append(
                f'<line x1="{x:.1f}" y1="{y - 3}" x2="{x:.1f}" y2="{y + bar_height + 3}" stroke="{GUIDE}" '
                f'stroke-width="3" stroke-dasharray="4 2"></line>'
            )
    legend_y = height - 14
    parts.append(f'<rect x="{label_width}" y="{legend_y - 10}" width="12" height="12" fill="{DONE}"></rect>')
    parts.append(
        f'<text x="{label_width + 16}" y="{legend_y}" font-size="13" fill="#202020">{escape(legend[0])}</text>'
    )
    guide_x = label_width + 40 + 8 * len(legend[0])
    parts.append(
        f'<line x1="{guide_x}" y1="{legend_y - 10}" x2="{guide_x}" y2="{legend_y + 2}" stroke="{GUIDE}" '
        f'stroke-width="3" stroke-dasharray="4 2"></line>'
    )
    parts.append(f'<text x="{guide_x + 8}" y="{legend_y}" font-size="13" fill="#202020">{escape(legend[1])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text inside is escaped above
