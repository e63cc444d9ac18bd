"""Inline SVG charts for `report.html`: score vs gold, confusion matrices, per-topic and per-split bars, score
histograms by label and per-item score spread, each drawn as plain SVG markup (no scripts or fetched assets)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from evals.metrics import first_score, item_sds
from evals.report_content import short

SCATTER_POINTS = 4000
GREEN, RED, BLUE, GREY = "#2e7d32", "#c62828", "#1565c0", "#9e9e9e"


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'aria-label="{html.escape(label)}" font-family="sans-serif" font-size="11">' + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, anchor: str = "middle", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {extra}>{html.escape(str(text))}</text>'


def _note_svg(message: str, label: str) -> str:
    return _svg(520, 60, [_text(260, 34, message, extra=f'fill="{GREY}"')], label)


def scatter_svg(points: Sequence[tuple[float, float]], label: str = "score vs gold") -> str:
    """Score (y) against gold (x) on 0-10, with the diagonal and the ±1 point band."""
    if not points:
        return _note_svg("no scored answers with a gold score", label)
    size, pad = 360, 40
    scale = (size - 2 * pad) / 10

    def x(v: float) -> float:
        return pad + v * scale

    def y(v: float) -> float:
        return size - pad - v * scale

    body = [
        f'<polygon points="{x(0):.1f},{y(1):.1f} {x(0):.1f},{y(0):.1f} {x(1):.1f},{y(0):.1f} {x(10):.1f},{y(9):.1f} '
        f'{x(10):.1f},{y(10):.1f} {x(9):.1f},{y(10):.1f}" fill="#e3f2fd"/>',
        f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(10)}" y2="{y(10)}" stroke="{GREY}" stroke-dasharray="4 3"/>',
        f'<rect x="{pad}" y="{pad}" width="{size - 2 * pad}" height="{size - 2 * pad}" fill="none" stroke="#555"/>',
    ]
    for tick in range(0, 11, 2):
        body.append(_text(x(tick), size - pad + 14, tick))
        body.append(_text(pad - 6, y(tick) + 4, tick, anchor="end"))
    body.append(_text(size / 2, size - 6, "gold score"))
    body.append(_text(12, size / 2, "grader score", extra=f'transform="rotate(-90 12 {size / 2})"'))
    step = max(1, len(points) // SCATTER_POINTS)
    for gold, score in points[::step]:
        body.append(f'<circle cx="{x(gold):.1f}" cy="{y(score):.1f}" r="3" fill="{BLUE}" fill-opacity="0.35"/>')
    return _svg(size, size, body, label)


def heatmap_svg(labels: Sequence[str], matrix: Sequence[Sequence[int]], row_title: str, col_title: str,
                label: str) -> str:
    """A confusion matrix: rows are gold, columns are the grader's; darker = more answers."""
    if not labels:
        return _note_svg("no data for a confusion matrix", label)
    cell, left, top = 64, 100, 50
    n = len(labels)
    peak = max((v for row in matrix for v in row), default=0) or 1
    width, height = left + n * cell + 20, top + n * cell + 40
    body = [_text(left + n * cell / 2, 16, col_title, extra='font-weight="bold"'),
            _text(14, top + n * cell / 2, row_title, extra=f'font-weight="bold" transform="rotate(-90 14 '
                                                             f'{top + n * cell / 2})"')]
    for j, name in enumerate(labels):
        body.append(_text(left + j * cell + cell / 2, top - 8, name))
    for i, name in enumerate(labels):
        body.append(_text(left - 6, top + i * cell + cell / 2 + 4, name, anchor="end"))
        for j in range(n):
            value = matrix[i][j]
            shade = value / peak
            fill = f"rgba(21,101,192,{0.08 + 0.85 * shade:.3f})"
            outline = f' stroke="{GREEN}" stroke-width="2"' if i == j else ""
            body.append(f'<rect x="{left + j * cell}" y="{top + i * cell}" width="{cell - 2}" height="{cell - 2}" '
                        f'fill="{fill}"{outline}/>')
            colour = "#fff" if shade > 0.55 else "#222"
            body.append(_text(left + j * cell + cell / 2 - 1, top + i * cell + cell / 2 + 4, value,
                              extra=f'fill="{colour}"'))
    return _svg(width, height, body, label)


def bars_svg(bars: Sequence[tuple[str, float]], label: str, maximum: float = 1.0, unit: str = "",
             target: float | None = None, colour: str = BLUE) -> str:
    """Horizontal bars, one per row, with an optional target line."""
    if not bars:
        return _note_svg("nothing to chart", label)
    row, left, right = 20, 190, 60
    plot = 320
    width, height = left + plot + right, 20 + row * len(bars) + 10
    body = []
    for i, (name, value) in enumerate(bars):
        y = 14 + i * row
        length = 0 if maximum <= 0 else max(0.0, min(1.0, value / maximum)) * plot
        body.append(_text(left - 6, y + 12, short(name, 30), anchor="end"))
        body.append(f'<rect x="{left}" y="{y}" width="{length:.1f}" height="{row - 6}" fill="{colour}"/>')
        body.append(_text(left + length + 4, y + 12, f"{value:.2f}{unit}", anchor="start"))
    if target is not None and maximum > 0:
        tx = left + min(1.0, target / maximum) * plot
        body.append(f'<line x1="{tx:.1f}" y1="8" x2="{tx:.1f}" y2="{height - 4}" stroke="{RED}" '
                    f'stroke-dasharray="4 3"/>')
    return _svg(width, height, body, label)


def histogram_svg(correct: Sequence[float], incorrect: Sequence[float], threshold: float | None, label: str) -> str:
    """Score histograms of answers labelled correct and incorrect, with the decision threshold."""
    if not correct and not incorrect:
        return _note_svg("no labelled answers", label)
    bins = 20
    counts = {name: [0] * bins for name in ("correct", "incorrect")}
    for name, values in (("correct", correct), ("incorrect", incorrect)):
        for v in values:
            counts[name][min(bins - 1, int(v / 10 * bins))] += 1
    totals = {name: max(1, sum(c)) for name, c in counts.items()}
    peak = max(counts[n][i] / totals[n] for n in counts for i in range(bins)) or 1
    left, plot_w, plot_h, top = 40, 440, 180, 20
    bw = plot_w / bins
    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#555"/>']
    for i in range(bins):
        for k, (name, colour) in enumerate((("correct", GREEN), ("incorrect", RED))):
            h = counts[name][i] / totals[name] / peak * plot_h
            body.append(f'<rect x="{left + i * bw + k * bw / 2:.1f}" y="{top + plot_h - h:.1f}" '
                        f'width="{bw / 2 - 1:.1f}" height="{h:.1f}" fill="{colour}" fill-opacity="0.8"/>')
    for tick in range(0, 11, 2):
        body.append(_text(left + tick / 10 * plot_w, top + plot_h + 14, tick))
    if threshold is not None:
        tx = left + min(10.0, threshold) / 10 * plot_w
        body.append(f'<line x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" y2="{top + plot_h}" stroke="#000" '
                    f'stroke-dasharray="4 3"/>')
        body.append(_text(tx + 4, top + 4, f"t = {threshold:g}", anchor="start"))
    body.append(_text(left + 8, top + 4, "correct", anchor="start", extra=f'fill="{GREEN}"'))
    body.append(_text(left + 8, top + 18, "incorrect", anchor="start", extra=f'fill="{RED}"'))
    body.append(_text(left + plot_w / 2, top + plot_h + 30, "grader score (share of each label per bin)"))
    return _svg(left + plot_w + 20, top + plot_h + 40, body, label)


def sd_svg(results: dict[str, Any], limit: int = 40) -> str:
    sds = item_sds(results["items"])
    label = "per-item score SD across repeats"
    if not sds:
        return _note_svg("one repeat only: no per-item variance to show (run with --repeats k)", label)
    ranked = sorted(sds.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    if ranked[0][1] == 0:
        return _note_svg(f"all {len(sds)} items scored identically in every repeat (SD 0)", label)
    return bars_svg(ranked, label, maximum=max(v for _, v in ranked), colour="#6a1b9a")


def charts(results: dict[str, Any]) -> list[tuple[str, str]]:
    """(title, svg) pairs for the run's kind."""
    m = results["metrics"]
    items = results["items"]
    scored = [(item, first_score(item)) for item in items]
    out = []
    gold_points = [(item["gold"], s) for item, s in scored if s is not None and item.get("gold") is not None]
    if results["kind"] == "team" or gold_points:
        out.append(("Score vs gold", scatter_svg(gold_points)))
    if results["kind"] == "team":
        bands = m["bands"]
        out.append(("Bands: gold (rows) vs grader (columns)",
                    heatmap_svg(bands["labels"], bands["matrix"], "gold band", "grader band", "band confusion")))
        topics = [(topic, v["within_1"]) for topic, v in m["per_topic"].items() if v["within_1"] is not None]
        out.append(("Per-topic accuracy (within-1 agreement)",
                    bars_svg(topics, "per-topic within-1 agreement", unit="")))
    else:
        threshold = (m.get("threshold") or {}).get("value")
        labelled = [(item, s) for item, s in scored if item.get("label") is not None and s is not None]
        if labelled:
            out.append(("Scores by gold label (all splits)", histogram_svg(
                [s for item, s in labelled if item["label"]], [s for item, s in labelled if not item["label"]],
                threshold, "score histogram by label")))
            for split, s in m["splits"].items():
                if "confusion" in s:
                    out.append((f"Confusion at t, {split}", heatmap_svg(
                        ["incorrect", "correct"], s["confusion"], "gold", "predicted", f"confusion {split}")))
            f1 = [(split, s["macro_f1"]) for split, s in m["splits"].items() if "macro_f1" in s]
            targets = [g["threshold"] for g in results.get("gates", []) if g["gate"].startswith("macro_f1_min")]
            out.append(("Macro-F1 per split", bars_svg(f1, "macro-F1 per split",
                                                       target=targets[0] if targets else None)))
        else:
            within = [(split, s["scores"]["within_1"]) for split, s in m["splits"].items() if "scores" in s]
            out.append(("Per-split accuracy (within-1 agreement)", bars_svg(within, "per-split within-1")))
    out.append(("Per-item score SD across repeats (highest first)", sd_svg(results)))
    return out
