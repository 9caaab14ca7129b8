"""
The dashboard's chart of logins and sign-ups per minute, drawn here as
SVG shapes (the page needs no script): one bar per minute, sign-ups
stacked on logins, scaled to the busiest minute.
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 720
HEIGHT = 160
#: Room left of the bars for the scale, right of them for the last label, below for the hours.
LEFT = 40
RIGHT = 16
BOTTOM = 20


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str
    title: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    top: int
    bottom: int
    peak: int
    bars: list[Bar]
    ticks: list[tuple[float, str]]
    logins: int
    signups: int


def activityChart(logins: list[int], signups: list[int]) -> Chart:
    """
    @param logins: logins per minute, oldest first, this minute last.
    @param signups: sign-ups per minute, as long as C{logins}.
    """
    minutes = len(logins)
    peak = max([1, *(a + b for a, b in zip(logins, signups))])
    plotHeight = HEIGHT - BOTTOM - 10
    step = (WIDTH - LEFT - RIGHT) / max(1, minutes)
    bars = []
    for index, (logged, signed) in enumerate(zip(logins, signups)):
        ago = minutes - 1 - index
        x = LEFT + index * step
        base = HEIGHT - BOTTOM
        for count, kind, word in ((logged, "login", "logins"), (signed, "signup", "sign-ups")):
            if count:
                height = count / peak * plotHeight
                base -= height
                bars.append(Bar(round(x, 1), round(base, 1), round(max(step - 0.5, 0.5), 1),
                                round(height, 1), kind,
                                f"{count} {word}, {ago} minutes ago" if ago
                                else f"{count} {word} this minute"))
    ticks = [(round(LEFT + (minutes - hours * 60) * step, 1),
              "now" if hours == 0 else f"-{hours} h")
             for hours in range(minutes // 60, -1, -1)]
    return Chart(WIDTH, HEIGHT, LEFT, 10, HEIGHT - BOTTOM, peak, bars, ticks,
                 sum(logins), sum(signups))
