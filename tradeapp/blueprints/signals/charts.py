"""Server-rendered SVG geometry for the track record charts (no script, CSP-safe, works offline)."""

from decimal import Decimal

WIDTH = 320
HEIGHT = 120
PAD = 18


def record_chart(by_month: dict[str, dict], months: int = 12) -> dict:
    """Monthly bars of decided signals (height = hit rate) and a cumulative-R polyline, for the last ``months``."""
    items = list(by_month.items())[-months:]
    if not items:
        return {"bars": [], "points": "", "width": WIDTH, "height": HEIGHT, "zero_y": HEIGHT - PAD}
    slot = (WIDTH - 2 * PAD) / len(items)
    bar_w = max(6.0, slot * 0.55)
    inner = HEIGHT - 2 * PAD
    cumulative, running = [], Decimal(0)
    for _, stats in items:
        running += stats["total_r"]
        cumulative.append(running)
    low, high = min([Decimal(0), *cumulative]), max([Decimal(0), *cumulative])
    span = (high - low) or Decimal(1)

    def y_of(value: Decimal) -> float:
        return round(PAD + float((high - value) / span) * inner, 1)

    bars, points = [], []
    for i, ((month, stats), cum) in enumerate(zip(items, cumulative, strict=True)):
        x = PAD + slot * i + (slot - bar_w) / 2
        rate = float(stats["hit_rate"] or 0)
        h = round(inner * rate / 100, 1)
        bars.append(
            {
                "x": round(x, 1),
                "y": round(HEIGHT - PAD - h, 1),
                "w": round(bar_w, 1),
                "h": h,
                "label": month[2:].replace("-", "/"),
                "title": f"{month}: {stats['hit_tp']} of {stats['decided']} hit TP, {stats['total_r']:+}R",
                "label_x": round(x + bar_w / 2, 1),
            }
        )
        points.append(f"{round(PAD + slot * i + slot / 2, 1)},{y_of(cum)}")
    return {"bars": bars, "points": " ".join(points), "width": WIDTH, "height": HEIGHT, "zero_y": y_of(Decimal(0))}
