"""What both reports show, computed from a run's results: the headline, the metric sections, the per-split table,
the largest errors, misclassified answers and successful attacks, and the table rows and gate labels built from them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.metrics import DEFINITIONS, first_score

MAX_LISTED = 10


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


def gate_label(gate: dict[str, Any]) -> str:
    """A gate row's name; targets are prefixed so they never collide with the enforced gate of the same name."""
    return gate["gate"] if gate.get("enforced", True) else f"target: {gate['gate']}"


def gate_status(gate: dict[str, Any], labels: dict[tuple[bool, bool], str]) -> str:
    if gate["passed"] is None:
        return "n/a (not in run)"
    return labels[(bool(gate.get("enforced", True)), bool(gate["passed"]))]
