"""Reports for a finished run: `report.md` (short enough for a pull-request comment) and a self-contained
`report.html` with inline SVG charts (no scripts, fonts or styles fetched from anywhere)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.metrics import DEFINITIONS, first_score, item_sds

MAX_LISTED = 10
SCATTER_POINTS = 4000
GREEN, RED, BLUE, GREY = "#2e7d32", "#c62828", "#1565c0", "#9e9e9e"


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


# ---------------------------------------------------------------- shared content


def headline(results: dict[str, Any]) -> tuple[str, list[str]]:
    config, metrics = results["config"], results["metrics"]
    what = "team sets" if results["kind"] == "team" else Path(config["dataset"]).stem
    title = f"Grading evals: {what} · {config['grader']} grader ({config.get('model', '?')})"
    cost = metrics.get("cost", {})
    facts = [
        f"commit `{results.get('git_commit', 'unknown')[:12]}`",
        f"{metrics['n_items']} answers × {config['repeats']} repeat(s)"
        + (" + shuffled-passage check" if "order" in metrics else "") + f" = {metrics['n_gradings']} gradings",
        f"{_pct(metrics.get('unscored_rate'))} unscored",
        f"finished {results.get('finished_at', '?')}",
    ]
    if cost.get("answers_per_second") is not None:
        facts.append(f"{cost['answers_per_second']:.1f} answers/s")
    if cost.get("resumed"):
        facts.append("resumed (speed covers the resumed part only)")
    return title, facts


def metric_sections(results: dict[str, Any]) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """(section title, [(metric, value, definition key)]) for the run's kind; absent metrics are left out."""
    m = results["metrics"]
    sections: list[tuple[str, list[tuple[str, str, str]]]] = []
    if results["kind"] == "team":
        acc = m["accuracy"]
        sections.append(("Accuracy vs gold", [
            ("answers scored", fmt(acc["n"]), ""),
            ("MAE (points)", fmt(acc["mae"]), "mae"),
            ("Pearson r", fmt(acc["pearson"]), "pearson"),
            ("Spearman ρ", fmt(acc["spearman"]), "spearman"),
            ("QWK", fmt(acc["qwk"]), "qwk"),
            ("exact agreement", _pct(acc["exact"]), "exact"),
            ("within-1 agreement", _pct(acc["within_1"]), "within_1"),
            ("unscored", _pct(m.get("unscored_rate")), "unscored_rate"),
        ]))
        rows = []
        if "ranking" in m:
            r = m["ranking"]
            rows.append(("ranking", f"{fmt(r['ranking'])} ({r['concordant']}/{r['pairs']} pairs, {r['ties']} ties)",
                         "ranking"))
        if "paraphrase" in m:
            p = m["paraphrase"]
            rows.append(("paraphrase groups with spread ≤ 1", f"{_pct(p['within_1_share'])} of {p['groups']}",
                         "paraphrase_spread"))
            rows.append(("paraphrase spread mean / max", f"{fmt(p['mean_spread'], 2)} / {fmt(p['max_spread'], 2)}",
                         "paraphrase_spread"))
        if rows:
            sections.append(("Ranking and paraphrases", rows))
    else:
        threshold = m.get("threshold")
        if threshold:
            rows = [("threshold t", f"{fmt(threshold['value'], 2)} (fitted on {threshold['fitted_on']})", "macro_f1")]
            if "fit_macro_f1" in threshold:
                rows.append(("macro-F1 where fitted", fmt(threshold["fit_macro_f1"]), "macro_f1"))
            rows.append(("unscored", _pct(m.get("unscored_rate")), "unscored_rate"))
            rows.append(("key points per reference answer",
                          f"one per {results['config'].get('granularity', 'sentence')}", ""))
            sections.append(("Decision rule: correct iff score ≥ t", rows))
    if "order" in m:
        o = m["order"]
        sections.append(("Order invariance", [
            ("score unchanged with shuffled passages", f"{_pct(o['unchanged_share'])} of {o['n']}",
             "order_unchanged_share"),
            ("mean / max |change|", f"{fmt(o['mean_abs_change'], 2)} / {fmt(o['max_abs_change'], 2)}",
             "order_unchanged_share"),
        ]))
    if "consistency" in m:
        c = m["consistency"]
        sections.append((f"Consistency ({c['repeats']} repeats)", [
            ("bit-identical repeats", _pct(c["identical_share"]), "identical_share"),
            ("per-item SD mean / max", f"{fmt(c['mean_sd'])} / {fmt(c['max_sd'])}", "mean_sd"),
            ("score flip rate", _pct(c["score_flip_rate"]), "score_flip_rate"),
            ("band flip rate", _pct(c["band_flip_rate"]), "band_flip_rate"),
            ("Krippendorff's α (interval)", fmt(c["krippendorff_alpha"]), "krippendorff_alpha"),
        ]))
    if "robustness" in m:
        r = m["robustness"]
        rows = []
        if "attack_n" in r:
            rows.append(("attack success rate", f"{_pct(r['attack_success_rate'])} of {r['attack_n']}",
                         "attack_success_rate"))
        if "padding_n" in r:
            rows.append(("padding gain mean / max",
                         f"{fmt(r['padding_gain_mean'], 2)} / {fmt(r['padding_gain_max'], 2)} ({r['padding_n']})",
                         "padding_gain"))
        if "empty_n" in r:
            rows.append(("empty-answer score mean / max",
                         f"{fmt(r['empty_score_mean'], 2)} / {fmt(r['empty_score_max'], 2)} ({r['empty_n']})",
                         "empty_score"))
        sections.append(("Robustness", rows))
    cost = m.get("cost", {})
    rows = [
        ("answers per second", fmt(cost.get("answers_per_second"), 1), "answers_per_second"),
        ("grading loop seconds", fmt(cost.get("seconds"), 1), ""),
        ("cache hit rate", _pct(cost.get("cache_hit_rate")) if cost.get("cache_hit_rate") is not None
         else "n/a (no cache)", "cache_hit_rate"),
    ]
    if results["config"]["grader"] == "llm":
        rows.append(("tokens per answer", fmt(cost.get("tokens_per_answer"), 0), "tokens_per_answer"))
        rows.append(("est. cost per answer (USD)", fmt(cost.get("cost_per_answer_usd"), 5), "tokens_per_answer"))
        if cost.get("usage_note"):
            rows.append(("usage", cost["usage_note"], ""))
    sections.append(("Cost and speed", rows))
    return sections


def definition_keys(results: dict[str, Any], used: Sequence[str]) -> list[str]:
    """The metrics whose definitions the report must carry: those in its sections and its per-split table."""
    keys = list(used)
    if results["kind"] == "team":
        keys.append("ranking")
    for split in results["metrics"].get("splits", {}).values():
        if "macro_f1" in split:
            keys += ["accuracy", "macro_f1", "always_incorrect_macro_f1"]
        if "scores" in split:
            keys += ["mae", "pearson", "spearman", "qwk", "exact", "within_1"]
    return [key for key in dict.fromkeys(keys) if key in DEFINITIONS]


def split_table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Per-split header and rows: label columns when the benchmark has labels, score columns when it has scores."""
    splits = results["metrics"].get("splits", {})
    labels = any("macro_f1" in s for s in splits.values())
    scores = any("scores" in s for s in splits.values())
    header = ["split", "n"]
    header += ["correct", "accuracy", "macro-F1", "always-incorrect F1"] if labels else []
    header += ["MAE", "Pearson", "Spearman", "QWK", "exact", "within-1"] if scores else []
    rows = []
    for split, s in splits.items():
        gold = s.get("scores", {})
        row = [split, fmt(s.get("n", gold.get("n")))]
        if labels:
            row += [_pct(s.get("share_correct")), _pct(s.get("accuracy")), fmt(s.get("macro_f1")),
                    fmt(s.get("always_incorrect_macro_f1"))]
        if scores:
            row += [fmt(gold.get(k)) for k in ("mae", "pearson", "spearman", "qwk")]
            row += [_pct(gold.get("exact")), _pct(gold.get("within_1"))]
        rows.append(row)
    return header, rows


def largest_errors(results: dict[str, Any], limit: int = MAX_LISTED) -> list[dict[str, Any]]:
    rows = []
    for item in results["items"]:
        score = first_score(item)
        if score is not None and item.get("gold") is not None and score != item["gold"]:
            rows.append({**item, "score": score, "error": score - item["gold"]})
    return sorted(rows, key=lambda r: (-abs(r["error"]), r["id"]))[:limit]


def label_misses(results: dict[str, Any], limit: int = MAX_LISTED) -> list[dict[str, Any]]:
    """Labelled answers outside the train split that the threshold gets wrong, furthest from t first."""
    t = (results["metrics"].get("threshold") or {}).get("value")
    if t is None:
        return []
    rows = []
    for item in results["items"]:
        score = first_score(item)
        if item.get("label") is None or score is None or item.get("split") == "train":
            continue
        if (score >= t) != item["label"]:
            rows.append({**item, "score": score, "distance": abs(score - t)})
    return sorted(rows, key=lambda r: (-r["distance"], r["id"]))[:limit]


def successful_attacks(results: dict[str, Any]) -> list[tuple[dict[str, Any], float, float]]:
    by_id = {item["id"]: item for item in results["items"]}
    found = []
    for item in results["items"]:
        base = by_id.get(item.get("base_id") or "")
        if item.get("kind") != "adversarial" or base is None:
            continue
        score, base_score = first_score(item), first_score(base)
        if score is not None and base_score is not None and score >= base_score + 1.0 - 1e-9:
            found.append((item, base_score, score))
    return found


def short(text: str, limit: int = 90) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------- markdown


GROUP_HEADER = ["", "n", "MAE", "within-1"]
ATTACK_HEADER = ["id", "base score", "score", "answer"]
ERROR_HEADER = ["id", "question", "tier/label", "gold", "score", "answer"]
MISS_HEADER = ["id", "split", "question", "label", "score", "answer"]


def group_rows(groups: dict[str, dict[str, Any]]) -> list[list[str]]:
    return [[name, fmt(v["n"]), fmt(v["mae"], 2), _pct(v["within_1"])] for name, v in groups.items()]


def attack_rows(attacks: Sequence[tuple[dict[str, Any], float, float]], width: int) -> list[list[str]]:
    return [[item["id"], fmt(base, 1), fmt(score, 1), short(item["answer"], width)] for item, base, score in attacks]


def _tier_or_label(item: dict[str, Any]) -> str:
    if item.get("tier"):
        return item["tier"]
    return {True: "correct", False: "incorrect"}.get(item.get("label"), "")


def error_rows(errors: Sequence[dict[str, Any]], width: int) -> list[list[str]]:
    return [[e["id"], e["question_id"], _tier_or_label(e), fmt(e["gold"], 1),
             fmt(e["score"], 1), short(e["answer"], width)] for e in errors]


def miss_rows(misses: Sequence[dict[str, Any]], width: int) -> list[list[str]]:
    return [[m["id"], str(m.get("split") or ""), m["question_id"], _tier_or_label(m), fmt(m["score"], 1),
             short(m["answer"], width)] for m in misses]


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def cell(value: str) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def md_section(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [f"### {title}", "", *md_table(header, rows), ""]


MD_STATUS = {
    (True, True): "✅ pass", (True, False): "❌ FAIL", (False, True): "🎯 target met",
    (False, False): "⚠️ target not met (not enforced)",
}
HTML_STATUS = {
    (True, True): '<span class="pass">pass</span>', (True, False): '<span class="fail">FAIL</span>',
    (False, True): '<span class="pass">target met</span>',
    (False, False): '<span class="na">target not met (not enforced)</span>',
}


def gate_label(gate: dict[str, Any]) -> str:
    """A gate row's name; targets are prefixed so they never collide with the enforced gate of the same name."""
    return gate["gate"] if gate.get("enforced", True) else f"target: {gate['gate']}"


def _gate_status(gate: dict[str, Any], labels: dict[tuple[bool, bool], str]) -> str:
    if gate["passed"] is None:
        return "n/a (not in run)"
    return labels[(bool(gate.get("enforced", True)), bool(gate["passed"]))]


def render_markdown(results: dict[str, Any]) -> str:
    title, facts = headline(results)
    lines = [f"## {title}", "", " · ".join(facts), ""]
    gates = results.get("gates", [])
    if gates:
        failed = [g for g in gates if g["passed"] is False and g.get("enforced", True)]
        unmet = [g for g in gates if g["passed"] is False and not g.get("enforced", True)]
        verdict = f"❌ {len(failed)} gate(s) failed" if failed else "✅ all gates pass"
        if unmet:
            verdict += f", {len(unmet)} target(s) not met yet"
        lines += [f"### Gates: {verdict}", ""]
        lines += md_table(["gate", "value", "threshold", "result"], [
            [gate_label(g), fmt(g["value"]), fmt(g["threshold"]), _gate_status(g, MD_STATUS)] for g in gates
        ])
        lines.append("")
    if results["kind"] == "benchmark":
        lines += md_section("Per split", *split_table(results))
    used: list[str] = []
    for section, rows in metric_sections(results):
        lines += md_section(section, ["metric", "value"], [(a, b) for a, b, _ in rows])
        used += [key for _, _, key in rows if key]
    if results["kind"] == "team":
        lines += md_section("By kind of answer", GROUP_HEADER, group_rows(results["metrics"]["by_kind"]))
        attacks = successful_attacks(results)
        if attacks:
            lines += md_section(f"Attacks that worked ({len(attacks)})", ATTACK_HEADER,
                                attack_rows(attacks[:MAX_LISTED], 70))
    errors = largest_errors(results)
    if errors:
        lines += md_section("Largest errors", ERROR_HEADER, error_rows(errors, 60))
    misses = label_misses(results)
    if misses:
        lines += md_section("Misclassified at t, furthest from t (outside train)", MISS_HEADER, miss_rows(misses, 60))
    keys = definition_keys(results, used)
    lines += ["<details><summary>Definitions</summary>", ""]
    lines += [f"- **{key}**: {DEFINITIONS[key]}" for key in keys]
    lines += ["", "</details>", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- SVG charts


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


# ---------------------------------------------------------------- HTML

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;
color:#222;line-height:1.4}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0;font-size:.92em}td,th{border:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f5f5f5}.pass{color:#2e7d32;font-weight:bold}
.fail{color:#c62828;font-weight:bold}.na{color:#777}.facts{color:#555}.charts{display:flex;flex-wrap:wrap;gap:24px}
figure{margin:0}figcaption{font-weight:bold;margin-bottom:4px}dt{font-weight:bold;margin-top:6px}
"""


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]], raw: bool = False) -> str:
    def cell(value: str) -> str:
        return str(value) if raw else html.escape(str(value))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(results: dict[str, Any]) -> str:
    title, facts = headline(results)
    parts = [f"<h1>{html.escape(title)}</h1>",
             f'<p class="facts">{html.escape(" · ".join(f.replace("`", "") for f in facts))}</p>']
    gates = results.get("gates", [])
    if gates:
        parts.append("<h2>Gates</h2>" + _html_table(
            ["gate", "value", "threshold", "result"],
            [[html.escape(gate_label(g)), fmt(g["value"]), html.escape(fmt(g["threshold"])),
              _gate_status(g, HTML_STATUS)] for g in gates], raw=True))
    parts.append('<h2>Charts</h2><div class="charts">' + "".join(
        f"<figure><figcaption>{html.escape(name)}</figcaption>{svg}</figure>" for name, svg in charts(results)
    ) + "</div>")
    if results["kind"] == "benchmark":
        parts.append("<h2>Per split</h2>" + _html_table(*split_table(results)))
    used: list[str] = []
    for section, rows in metric_sections(results):
        table = _html_table(["metric", "value"], [(a, b) for a, b, _ in rows])
        parts.append(f"<h2>{html.escape(section)}</h2>{table}")
        used += [key for _, _, key in rows if key]
    m = results["metrics"]
    if results["kind"] == "team":
        parts.append("<h2>Per topic</h2>" + _html_table(GROUP_HEADER, group_rows(m["per_topic"])))
        parts.append("<h2>By kind of answer</h2>" + _html_table(GROUP_HEADER, group_rows(m["by_kind"])))
        attacks = successful_attacks(results)
        if attacks:
            parts.append(f"<h2>Attacks that worked ({len(attacks)})</h2>"
                         + _html_table(ATTACK_HEADER, attack_rows(attacks, 200)))
    errors = largest_errors(results, limit=25)
    if errors:
        parts.append("<h2>Largest errors</h2>" + _html_table(ERROR_HEADER, error_rows(errors, 200)))
    misses = label_misses(results, limit=25)
    if misses:
        parts.append("<h2>Misclassified at t, furthest from t (outside train)</h2>"
                     + _html_table(MISS_HEADER, miss_rows(misses, 200)))
    keys = definition_keys(results, used)
    parts.append("<h2>Definitions</h2><dl>" + "".join(
        f"<dt>{html.escape(k)}</dt><dd>{html.escape(DEFINITIONS[k])}</dd>" for k in keys
    ) + "</dl>")
    config = results["config"]
    meta = [["git commit", results.get("git_commit", "unknown")], ["python", results["versions"]["python"]]]
    meta += [[name, str(version)] for name, version in results["versions"]["packages"].items()]
    meta += [[f"fingerprint: {k}", v] for k, v in results["versions"]["fingerprints"].items()]
    meta += [[f"config: {k}", str(v)] for k, v in config.items() if k != "thresholds"]
    parts.append("<h2>Run</h2>" + _html_table(["", ""], meta))
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")


def write_reports(run_dir: Path, results: dict[str, Any]) -> None:
    (run_dir / "report.md").write_text(render_markdown(results), encoding="utf-8")
    (run_dir / "report.html").write_text(render_html(results), encoding="utf-8")
