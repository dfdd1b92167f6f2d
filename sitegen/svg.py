"""Small inline SVG charts for entity pages: a bar chart of reports per year and a locator map.

Pure functions from numbers to SVG markup (``str``); no I/O, no JavaScript, no network (the
map draws no tiles: dots and labels on an equirectangular grid). Every chart is an
``<svg role="img">`` labelled by its own ``<title>`` and ``<desc>``, so screen readers get a
text alternative; pages should also show the numbers as text (the default theme adds a
visually hidden table next to the bar chart). Text is XML-escaped here; ``render.py`` wraps
the result in ``Markup``. Output is deterministic (fixed precision, no random ids).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

BAR_WIDTH = 32
BAR_GAP = 8
CHART_HEIGHT = 90  # height of the tallest bar
MAP_WIDTH = 360
MAP_HEIGHT = 240
MAP_MARGIN = 28  # keeps dots and most labels off the frame
MAP_MAX_KM = 300.0  # related places further away than this are left off the map
MAP_MAX_PLACES = 8  # besides the place itself
EARTH_KM = 6371.0
# Presentation attributes: defaults a theme's CSS can override (`.chart .bar rect {...}`).
_TEXT = ' font-family="system-ui, sans-serif" font-size="11" fill="currentColor"'
_ACCENT = "#0b5cad"
_HIGHLIGHT = "#c2410c"
_GREY = "#8a8a8f"
_BOLD = ' font-size="12" font-weight="bold"'
_COMPASS = ("north", "north-east", "east", "south-east", "south", "south-west", "west",
            "north-west")


def _num(value: float) -> str:
    """A coordinate for SVG: at most one decimal, no trailing zeros."""
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _attrs(**values: object) -> str:
    return "".join(f' {k.rstrip("_").replace("_", "-")}="{escape(str(v))}"'
                   for k, v in values.items())


# --- Timeline -------------------------------------------------------------------------------

def year_bars(counts: Sequence[tuple[int, int]], title: str,
              element_id: str = "timeline") -> str:
    """A bar chart of ``(year, count)`` pairs (in order, one bar each), labelled ``title``.

    Each bar is a ``<g class="bar" data-year=... data-count=...>`` holding a ``<title>``
    tooltip, the ``<rect>``, the count above it and the year below. Heights are
    proportional to the counts (the tallest bar is ``CHART_HEIGHT``); zero is a thin tick.
    """
    top = 14  # room for the count above the tallest bar
    bottom = 16  # room for the year labels
    peak = max((n for _, n in counts), default=0) or 1
    width = max(len(counts), 1) * (BAR_WIDTH + BAR_GAP) + BAR_GAP
    height = top + CHART_HEIGHT + bottom
    base = top + CHART_HEIGHT
    step = 1 if len(counts) <= 12 else math.ceil(len(counts) / 12)  # thin out year labels
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-years"'
             f'{_attrs(viewBox=f"0 0 {width} {height}", width=width, height=height)}'
             f' role="img" aria-labelledby="{escape(element_id)}-title"{_TEXT}>',
             f'<title id="{escape(element_id)}-title">{escape(title)}</title>',
             f'<line class="axis" x1="0" y1="{base}" x2="{width}" y2="{base}"'
             f' stroke="{_GREY}"/>']
    for i, (year, count) in enumerate(counts):
        x = BAR_GAP + i * (BAR_WIDTH + BAR_GAP)
        h = CHART_HEIGHT * count / peak
        label = f"{year}: {count} report{'s' if count != 1 else ''}"
        parts.append(f'<g class="bar"{_attrs(data_year=year, data_count=count)}>'
                     f'<title>{escape(label)}</title>'
                     f'<rect{_attrs(x=x, y=_num(base - h), width=BAR_WIDTH, height=_num(h))}'
                     f' fill="{_ACCENT}"/>')
        if count:
            parts.append(f'<text class="count"{_attrs(x=_num(x + BAR_WIDTH / 2))}'
                         f'{_attrs(y=_num(base - h - 3))} text-anchor="middle">{count}</text>')
        if i % step == 0:
            parts.append(f'<text class="year"{_attrs(x=_num(x + BAR_WIDTH / 2), y=height - 4)}'
                         f' text-anchor="middle">{year}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


# --- Locator map ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class MapPlace:
    name: str
    lat: float
    lon: float


def distance_km(a: MapPlace, b: MapPlace) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(h)))


def bearing(a: MapPlace, b: MapPlace) -> str:
    """Compass direction from ``a`` to ``b`` in words ("north-east")."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dl = math.radians(b.lon - a.lon)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    degrees = (math.degrees(math.atan2(y, x)) + 360) % 360
    return _COMPASS[round(degrees / 45) % 8]


def format_coordinates(lat: float, lon: float) -> str:
    return (f"{abs(lat):.2f}° {'N' if lat >= 0 else 'S'}, "
            f"{abs(lon):.2f}° {'E' if lon >= 0 else 'W'}")


def map_places(place: MapPlace, related: Sequence[MapPlace]) -> list[MapPlace]:
    """The related places a locator map shows: distinct, not the place itself, within
    ``MAP_MAX_KM``, nearest first, at most ``MAP_MAX_PLACES``."""
    seen = {(place.name, place.lat, place.lon)}
    found: list[tuple[float, str, MapPlace]] = []
    for other in related:
        key = (other.name, other.lat, other.lon)
        if key in seen:
            continue
        seen.add(key)
        km = distance_km(place, other)
        if km <= MAP_MAX_KM:
            found.append((km, other.name, other))
    found.sort(key=lambda item: (item[0], item[1]))
    return [p for _, _, p in found[:MAP_MAX_PLACES]]


def _nice_step(span: float, target: int) -> float:
    raw = span / max(target, 1)
    for step in (0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 45, 90):
        if step >= raw:
            return step
    return 90.0


def locator_map(place: MapPlace, related: Sequence[MapPlace], element_id: str = "locator") -> str:
    """A small map of ``place`` (highlighted) and the nearby ``related`` places.

    Equirectangular projection (longitudes shrunk by the cosine of the middle latitude, so
    shapes are right near the place) of a bounding box around the points, with a graticule,
    a scale bar, dots and labels. The ``<desc>`` lists each place with its distance and
    direction from ``place``.
    """
    others = map_places(place, related)
    points = [place, *others]
    lat_lo, lat_hi = min(p.lat for p in points), max(p.lat for p in points)
    lon_lo, lon_hi = min(p.lon for p in points), max(p.lon for p in points)
    mid_lat = (lat_lo + lat_hi) / 2
    kx = max(math.cos(math.radians(mid_lat)), 0.05)
    # At least 1° of latitude, so a lone place gets some surroundings.
    span_y = max(lat_hi - lat_lo, 1.0)
    span_x = max((lon_hi - lon_lo) * kx, 1.0 * kx)
    inner_w, inner_h = MAP_WIDTH - 2 * MAP_MARGIN, MAP_HEIGHT - 2 * MAP_MARGIN
    scale = min(inner_w / span_x, inner_h / span_y)  # px per degree of latitude
    cx, cy = (lon_lo + lon_hi) / 2, mid_lat

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return (MAP_WIDTH / 2 + (lon - cx) * kx * scale, MAP_HEIGHT / 2 - (lat - cy) * scale)

    # Visible extent, for the graticule.
    lon_min = cx - (MAP_WIDTH / 2) / (kx * scale)
    lon_max = cx + (MAP_WIDTH / 2) / (kx * scale)
    lat_min = cy - (MAP_HEIGHT / 2) / scale
    lat_max = cy + (MAP_HEIGHT / 2) / scale
    lines: list[str] = []
    step = _nice_step(lat_max - lat_min, 4)
    lat = math.ceil(lat_min / step) * step
    while lat <= lat_max:
        _, y = xy(lat, cx)
        lines.append(f"M0 {_num(y)}H{MAP_WIDTH}")
        lat += step
    step_x = _nice_step(lon_max - lon_min, 5)
    lon = math.ceil(lon_min / step_x) * step_x
    while lon <= lon_max:
        x, _ = xy(cy, lon)
        lines.append(f"M{_num(x)} 0V{MAP_HEIGHT}")
        lon += step_x

    # Scale bar: a round distance about a quarter of the width.
    km_per_px = 111.32 / scale
    target = km_per_px * MAP_WIDTH / 4
    bar_km = next((d for d in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000)
                   if d >= target * 0.6), 2000)
    bar_px = bar_km / km_per_px

    desc = [f"{place.name} ({format_coordinates(place.lat, place.lon)})"]
    desc += [f"{p.name}, {_round_km(distance_km(place, p))} km {bearing(place, p)}"
             for p in others]
    title = f"Map of {place.name}" + (" and nearby places" if others else "")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart locator-map"'
             f'{_attrs(viewBox=f"0 0 {MAP_WIDTH} {MAP_HEIGHT}", width=MAP_WIDTH)}'
             f'{_attrs(height=MAP_HEIGHT)} role="img"'
             f' aria-labelledby="{escape(element_id)}-title {escape(element_id)}-desc"{_TEXT}>',
             f'<title id="{escape(element_id)}-title">{escape(title)}</title>',
             f'<desc id="{escape(element_id)}-desc">{escape("; ".join(desc))}.</desc>',
             f'<rect class="map-frame" x="0" y="0" width="{MAP_WIDTH}" height="{MAP_HEIGHT}"'
             f' fill="none" stroke="{_GREY}"/>',
             f'<path class="graticule" d="{"".join(lines)}" fill="none" stroke="{_GREY}"'
             ' stroke-opacity=".35" stroke-width=".5"/>',
             f'<g class="scale"><path d="M12 {MAP_HEIGHT - 12}h{_num(bar_px)}"'
             ' stroke="currentColor" stroke-width="2"/>'
             f'<text{_attrs(x=12, y=MAP_HEIGHT - 16)}>{bar_km} km</text></g>']
    taken: list[tuple[float, float, float, float]] = []
    drawn: dict[int, str] = {}
    # The place's label is placed first (it wins the best spot) and drawn last (on top).
    for i, p in [(len(others), place), *enumerate(others)]:
        is_self = p is place
        x, y = xy(p.lat, p.lon)
        r = 5 if is_self else 3
        label_w = len(p.name) * (7.0 if is_self else 6.0)
        left = x + label_w + r + 4 > MAP_WIDTH - 2
        lx = x - r - 3 if left else x + r + 3
        box_x = lx - label_w if left else lx
        ly = min(max(_free_y(taken, box_x, y + 4, label_w), 12.0), MAP_HEIGHT - 4.0)
        taken.append((box_x, ly - 10, label_w, 12))
        cls = "place place-self" if is_self else "place"
        look = (f' fill="{_HIGHLIGHT}" stroke="#ffffff" stroke-width="1.5"' if is_self
                else f' fill="{_GREY}"')
        drawn[i] = (f'<g class="{cls}"{_attrs(data_name=p.name)}>'
                    f'<circle{_attrs(cx=_num(x), cy=_num(y), r=r)}{look}/>'
                    f'<text{_attrs(x=_num(lx), y=_num(ly))}'
                    f' text-anchor="{"end" if left else "start"}"'
                    f'{_BOLD if is_self else ""}>'
                    f'{escape(p.name)}</text></g>')
    parts.extend(drawn[i] for i in sorted(drawn))
    parts.append("</svg>")
    return "".join(parts)


def _round_km(km: float) -> int:
    return int(round(km, -1)) if km >= 20 else max(1, round(km))


def _free_y(taken: Sequence[tuple[float, float, float, float]], x: float, y: float,
            w: float) -> float:
    """A baseline near ``y`` whose label box does not overlap a label already placed."""
    for dy in (0, 12, -12, 24, -24, 36, -36):
        top = y + dy - 10
        if not any(x < tx + tw and tx < x + w and top < ty + th and ty < top + 12
                   for tx, ty, tw, th in taken):
            return y + dy
    return y
