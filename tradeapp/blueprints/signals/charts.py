"""Server-rendered SVG geometry for the track record charts (no script, CSP-safe, works offline)."""

from decimal import Decimal

WIDTH = 320
HEIGHT = 120
PAD = 14


def record_chart(outcomes: list[tuple], last: int = 60) -> dict:
    """The provider's last ``last`` decided signals: one bar per signal (its R, green for a take-profit,
    red for a stop-loss, grey when it expired) and the cumulative R as a line."""
    items = outcomes[-last:]
    if not items:
        return {"bars": [], "points": "", "width": WIDTH, "height": HEIGHT, "zero_y": HEIGHT - PAD}
    cumulative, running = [], Decimal(0)
    for _, _, r in items:
        running += r
        cumulative.append(running)
    values = [Decimal(0), *cumulative, *(r for _, _, r in items)]
    high, low = max(values), min(values)
    span = (high - low) or Decimal(1)
    slot = (WIDTH - 2 * PAD) / len(items)
    inner = HEIGHT - 2 * PAD

    def y_of(value: Decimal) -> float:
        return round(PAD + float((high - value) / span) * inner, 1)

    zero = y_of(Decimal(0))
    bars, points = [], []
    for i, ((when, status, r), cum) in enumerate(zip(items, cumulative, strict=True)):
        x = PAD + slot * i
        top = y_of(max(r, Decimal(0)))
        bars.append(
            {
                "x": round(x + slot * 0.15, 1),
                "y": top,
                "w": round(max(slot * 0.7, 1), 1),
                "h": round(max(abs(y_of(r) - zero), 1), 1),
                "cls": status,
                "title": f"{when:%d %b %H:%M}: {status.replace('_', ' ')} {r:+.2f}R, total {cum:+.2f}R",
            }
        )
        points.append(f"{round(x + slot / 2, 1)},{y_of(cum)}")
    return {
        "bars": bars,
        "points": " ".join(points),
        "width": WIDTH,
        "height": HEIGHT,
        "zero_y": zero,
        "first": items[0][0],
        "last": items[-1][0],
        "total": cumulative[-1],
    }
