"""Server-rendered SVG charts for the overview: nothing is loaded from elsewhere, and no script runs.

Each chart is an `<svg role="img">` with a `<title>` and a `<desc>` that says in words what the picture shows;
the page also gives its figures as a table. Colour never carries meaning alone: lines differ by dash pattern and
every mark that matters has a text label. All text is escaped here (the SVG is inserted as markup).

The charts share one time axis (`TimeAxis`), so the MME/day line and the ketamine treatments with pain scores
line up when drawn one above the other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from markupsafe import Markup, escape

from smart_app.core.course import CourseHistory, KetamineTreatment, PainScore
from smart_app.core.mme import MmeReport
from smart_app.core.mme.timeline import MmeTimeline

WIDTH = 760
LEFT = 52  # room for the y-axis labels
RIGHT = 175  # room for the threshold labels
PLOT_W = WIDTH - LEFT - RIGHT
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _e(text: object) -> str:
    return str(escape(str(text)))


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def day_label(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


@dataclass(frozen=True, slots=True)
class Threshold:
    value: float
    label: str  # "50: reassess, offer naloxone (CDC 2022)"
    style: str  # "precaution" | "high" (CSS class; the label says the same)


@dataclass(frozen=True, slots=True)
class TimeAxis:
    first: date
    last: date  # inclusive

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def x(self, day: date) -> float:
        return LEFT + PLOT_W * (day - self.first).days / self.days

    def ticks(self) -> list[tuple[date, str]]:
        """First of each month in the window, labelled with the month (and the year in January or first)."""
        ticks: list[tuple[date, str]] = []
        day = date(self.first.year, self.first.month, 1)
        while day <= self.last:
            if day >= self.first:
                label = MONTHS[day.month - 1] + (f" {day.year}" if day.month == 1 or not ticks else "")
                ticks.append((day, label))
            day = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
        return ticks


def _nice_max(value: float) -> float:
    if value <= 0:
        return 10.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _svg(kind: str, height: int, title: str, desc: str, body: list[str]) -> Markup:
    ident = f"chart-{kind}"
    return Markup(
        f'<svg class="chart chart-{kind}" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'preserveAspectRatio="xMinYMin meet" aria-labelledby="{ident}-title {ident}-desc" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{ident}-title">{_e(title)}</title><desc id="{ident}-desc">{_e(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def _time_axis(axis: TimeAxis, top: float, bottom: float) -> list[str]:
    parts = [f'<line class="axis" x1="{LEFT}" y1="{bottom}" x2="{LEFT + PLOT_W}" y2="{bottom}"/>']
    for day, label in axis.ticks():
        x = axis.x(day)
        month, _, year = label.partition(" ")
        parts.append(f'<line class="grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}"/>')
        parts.append(f'<text class="tick" x="{x + 2:.1f}" y="{bottom + 13}">{_e(month)}</text>')
        if year:
            parts.append(f'<text class="tick" x="{x + 2:.1f}" y="{bottom + 25}">{_e(year)}</text>')
    x_today = LEFT + PLOT_W
    parts.append(f'<line class="today" x1="{x_today}" y1="{top}" x2="{x_today}" y2="{bottom}"/>')
    parts.append(f'<text class="tick" x="{x_today}" y="{top - 8}" text-anchor="middle">today</text>')
    return parts


def _y_axis(top: float, bottom: float, y_max: float, unit: str, steps: int = 4) -> list[str]:
    parts = [f'<line class="axis" x1="{LEFT}" y1="{top}" x2="{LEFT}" y2="{bottom}"/>']
    for i in range(steps + 1):
        value = y_max * i / steps
        y = bottom - (bottom - top) * i / steps
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + PLOT_W}" y2="{y:.1f}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_num(value)}</text>')
    parts.append(f'<text class="unit" x="2" y="{top - 10}">{_e(unit)}</text>')
    return parts


def _ketamine_marks(axis: TimeAxis, treatments: Sequence[KetamineTreatment], top: float, bottom: float) -> list[str]:
    parts = []
    for t in treatments:
        if not axis.first <= t.day <= axis.last:
            continue
        x = axis.x(t.day) + PLOT_W / axis.days / 2
        tip = f"Ketamine treatment on {day_label(t.day)}"
        parts.append(
            f'<g class="ketamine"><title>{_e(tip)}</title>'
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}"/>'
            f'<path d="M{x - 5:.1f},{bottom} L{x:.1f},{bottom - 9} L{x + 5:.1f},{bottom} Z"/>'
            f'<text x="{x:.1f}" y="{top - 3}" text-anchor="middle">K</text></g>'
        )
    return parts


def mme_over_time(
    timeline: MmeTimeline, thresholds: Sequence[Threshold], treatments: Sequence[KetamineTreatment], desc: str
) -> Markup:
    """A step line of the total MME/day per day of the window; dashed where a period was assumed; threshold lines
    labelled; segments whose total leaves an opioid out marked "at least"; ketamine treatments as K marks."""
    height, top, bottom = 262, 24, 212
    axis = TimeAxis(timeline.first_day, timeline.last_day)
    peak = max((s.total or 0.0 for s in timeline.segments), default=0.0)
    y_max = _nice_max(max([peak, *(t.value for t in thresholds)]) * 1.1)

    def y(value: float) -> float:
        return bottom - (bottom - top) * min(value, y_max) / y_max

    body = [*_y_axis(top, bottom, y_max, timeline.figure), *_time_axis(axis, top, bottom)]
    for t in thresholds:
        body.append(
            f'<g class="threshold {t.style}"><line x1="{LEFT}" y1="{y(t.value):.1f}" x2="{LEFT + PLOT_W}" '
            f'y2="{y(t.value):.1f}"/><text x="{LEFT + PLOT_W + 6}" y="{y(t.value) + 4:.1f}">{_e(t.label)}</text></g>'
        )
    previous: tuple[float, float] | None = None
    for segment in timeline.segments:
        x1 = axis.x(segment.first_day)
        x2 = axis.x(segment.last_day + timedelta(days=1))
        if segment.total is None:
            body.append(
                f'<g class="unknown"><rect x="{x1:.1f}" y="{top}" width="{max(x2 - x1, 1):.1f}" '
                f'height="{bottom - top}"/><text x="{x1 + 3:.1f}" y="{top + 14}">not computable</text></g>'
            )
            previous = None
            continue
        level = y(segment.total)
        if previous is not None and abs(previous[1] - level) > 0.1:
            body.append(f'<line class="riser" x1="{x1:.1f}" y1="{previous[1]:.1f}" x2="{x1:.1f}" y2="{level:.1f}"/>')
        css = "mme-line assumed" if segment.assumed else "mme-line"
        body.append(f'<line class="{css}" x1="{x1:.1f}" y1="{level:.1f}" x2="{x2:.1f}" y2="{level:.1f}"/>')
        if segment.left_out:
            body.append(f'<text class="at-least" x="{x1 + 3:.1f}" y="{level - 5:.1f}">at least</text>')
        previous = (x2, level)
    body += _ketamine_marks(axis, treatments, top, bottom)
    legend_y = height - 6
    body.append(
        f'<g class="legend"><line class="mme-line" x1="{LEFT}" y1="{legend_y - 4}" x2="{LEFT + 28}" '
        f'y2="{legend_y - 4}"/><text x="{LEFT + 34}" y="{legend_y}">period from the record</text>'
        f'<line class="mme-line assumed" x1="{LEFT + 200}" y1="{legend_y - 4}" x2="{LEFT + 228}" '
        f'y2="{legend_y - 4}"/><text x="{LEFT + 234}" y="{legend_y}">period partly assumed</text>'
        f'<text x="{LEFT + 420}" y="{legend_y}">K = ketamine treatment</text></g>'
    )
    return _svg("mme", height + 4, f"Opioid load over time ({timeline.figure})", desc, body)


def opioid_shares(report: MmeReport, desc: str) -> Markup:
    """One labelled bar per opioid in today's total (MME/day and share), then the ones left out, in words."""
    counted = [i for i in report.counted if i.mme_per_day is not None]
    left_out = list(report.left_out)
    total = sum(i.mme_per_day or 0.0 for i in counted)
    row, label_w, bar_w = 26, 300, 300
    height = 8 + row * (len(counted) + len(left_out)) + 8
    body: list[str] = []
    for n, item in enumerate(counted):
        value = item.mme_per_day or 0.0
        share = value / total if total else 0.0
        y = 8 + n * row
        width = max(bar_w * share, 2)
        name = item.name if len(item.name) <= 44 else item.name[:43] + "…"
        body.append(
            f'<g class="share"><title>{_e(item.name)}: {_num(value)} {_e(report.figure)}</title>'
            f'<text x="0" y="{y + 15}">{_e(name)}</text>'
            f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{width:.1f}" height="16"/>'
            f'<text x="{label_w + width + 6:.1f}" y="{y + 15}">{_num(value)} {_e(report.figure)} '
            f"({round(share * 100)}%)</text></g>"
        )
    for n, item in enumerate(left_out, start=len(counted)):
        y = 8 + n * row
        name = item.name if len(item.name) <= 44 else item.name[:43] + "…"
        body.append(
            f'<g class="share left-out"><title>{_e(item.name)}: not in the total ({_e(item.reason or "")})</title>'
            f'<text x="0" y="{y + 15}">{_e(name)}</text>'
            f'<rect class="bar-missing" x="{label_w}" y="{y + 3}" width="{bar_w}" height="16"/>'
            f'<text x="{label_w + 6}" y="{y + 15}">not counted: dose unknown</text></g>'
            if item.status == "not-computable"
            else f'<g class="share left-out"><title>{_e(item.name)}: not in the total</title>'
            f'<text x="0" y="{y + 15}">{_e(name)}</text>'
            f'<text x="{label_w + 6}" y="{y + 15}">not counted ({_e(item.reason or item.status)})</text></g>'
        )
    return _svg("shares", height, f"Each opioid's share of today's total ({report.figure})", desc, body)


def ketamine_and_pain(course: CourseHistory, desc: str) -> Markup:
    """Ketamine treatment days as K marks and 0-10 pain scores as labelled points joined by a line."""
    height, top, bottom = 212, 24, 164
    axis = TimeAxis(course.first_day, course.last_day)

    def y(value: float) -> float:
        return bottom - (bottom - top) * value / 10

    body = [*_y_axis(top, bottom, 10, "pain 0-10", steps=5), *_time_axis(axis, top, bottom)]
    body += _ketamine_marks(axis, course.ketamine, top, bottom)
    points: list[tuple[float, float, PainScore]] = [
        (axis.x(p.when.date()) + PLOT_W / axis.days / 2, y(p.value), p) for p in course.pain if p.on_0_to_10
    ]
    if len(points) > 1:
        path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{yy:.1f}" for i, (x, yy, _) in enumerate(points))
        body.append(f'<path class="pain-line" d="{path}"/>')
    for x, yy, p in points:
        body.append(
            f'<g class="pain-point"><title>{_e(p.code.label)} {_num(p.value)} on {day_label(p.when.date())}</title>'
            f'<circle cx="{x:.1f}" cy="{yy:.1f}" r="4"/>'
            f'<text x="{x:.1f}" y="{yy - 8:.1f}" text-anchor="middle">{_num(p.value)}</text></g>'
        )
    if not points:
        body.append(
            f'<text class="empty" x="{LEFT + 10}" y="{(top + bottom) / 2:.1f}">'
            "no 0-10 pain score recorded in this period</text>"
        )
    legend_y = height - 6
    body.append(
        f'<g class="legend"><circle class="pain-point-legend" cx="{LEFT + 6}" cy="{legend_y - 4}" r="4"/>'
        f'<text x="{LEFT + 16}" y="{legend_y}">pain score (0-10, value written above the point)</text>'
        f'<text x="{LEFT + 360}" y="{legend_y}">K = ketamine treatment</text></g>'
    )
    return _svg("ketamine", height + 4, "Ketamine treatments and pain scores", desc, body)
