"""Bar charts rendered on the server as SVG: plain attributes, no script, no inline style (CSP-safe)."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

WIDTH, HEIGHT, AXIS = 300, 90, 14


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: date
    value: Decimal


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    peak: Decimal
    total: Decimal
    first: date | None
    last: date | None
    width: int = WIDTH
    height: int = HEIGHT + AXIS
    baseline: int = HEIGHT


def bar_chart(points: list[tuple[date, Decimal]]) -> Chart:
    """One bar per day, scaled to the highest day; a zero day is a hairline so the axis reads."""
    peak = max((v for _, v in points), default=Decimal(0))
    step = WIDTH / max(len(points), 1)
    bars = []
    for i, (day, value) in enumerate(points):
        h = float(value / peak) * (HEIGHT - 4) if peak > 0 else 0.0
        h = max(h, 1.0)
        bars.append(
            Bar(round(i * step + 1, 2), round(HEIGHT - h, 2), round(max(step - 2, 1), 2), round(h, 2), day, value)
        )
    return Chart(
        bars=bars,
        peak=peak,
        total=sum((v for _, v in points), Decimal(0)),
        first=points[0][0] if points else None,
        last=points[-1][0] if points else None,
    )
