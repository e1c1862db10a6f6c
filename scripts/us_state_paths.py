"""Derive the run page's US state map (studies/charts/data/us_states.json) from the us-atlas
TopoJSON (`states-albers-10m.json`, already projected to a 975×610 plane: Albers USA).

    npm pack us-atlas@3.0.1 && tar xzf us-atlas-3.0.1.tgz
    python scripts/us_state_paths.py package/states-albers-10m.json studies/charts/data/us_states.json

TopoJSON stores shared borders once as quantized, delta-encoded arcs; a state's polygon rings name
the arcs they follow (a negative index ~i walks arc i backwards). This decodes the arcs with the
file's transform and writes each state's outline as an SVG path, keyed by its two-digit FIPS code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DIGITS = 1  # a tenth of a unit on a 975-wide plane: finer than any screen shows


def decode_arcs(topology: dict) -> list[list[tuple[float, float]]]:
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def ring_points(
    ring: list[int], arcs: list[list[tuple[float, float]]]
) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    for index in ring:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        # Consecutive arcs share their joining point.
        points.extend(arc if not points else arc[1:])
    return points


def path_d(polygons: list[list[list[int]]], arcs: list[list[tuple[float, float]]]) -> str:
    parts = []
    for polygon in polygons:
        for ring in polygon:
            pts = ring_points(ring, arcs)
            coords = " ".join(f"{x:.{DIGITS}f},{y:.{DIGITS}f}" for x, y in pts)
            parts.append(f"M{coords}Z")
    return "".join(parts)


def state_paths(topology: dict) -> dict:
    arcs = decode_arcs(topology)
    states = {}
    for geometry in topology["objects"]["states"]["geometries"]:
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        states[geometry["id"]] = {
            "name": geometry["properties"]["name"],
            "d": path_d(polygons, arcs),
        }
    return {
        "source": "us-atlas 3.0.1, states-albers-10m.json (ISC licence, see LICENSE-us-atlas)",
        "width": 975,
        "height": 610,
        "states": dict(sorted(states.items())),
    }


def main(source: str, target: str) -> None:
    topology = json.loads(Path(source).read_text())
    Path(target).write_text(json.dumps(state_paths(topology), separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
