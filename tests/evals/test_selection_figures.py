"""evals.selection_figures: the comparison rule on given figures, and a small run on the real selection data."""

import json

import pytest

from evals import selection_figures
from evals.judge_data import DATASETS_DIR

BASE = {
    "review": {"team_qwk": 0.90, "team_false_flags": 0.0, "swap_recall": 0.60, "scientsbank_threshold": 1.7},
    "support": {"saf_pearson": 0.61, "scientsbank_macro_f1": 0.712},
}


def changed(part: str, **figures: float) -> dict[str, dict[str, float]]:
    return {**BASE, part: {**BASE[part], **figures}}


def test_a_variant_wins_only_with_a_gain_beyond_noise_and_no_loss_beyond_it():
    assert selection_figures.compare(BASE, changed("review", swap_recall=0.62)) == (
        True, ["review.swap_recall: 0.6 -> 0.62 (better)"]
    )
    assert selection_figures.compare(BASE, BASE) == (False, [])
    # moves within a figure's tolerance are noise, neither gain nor loss
    assert selection_figures.compare(BASE, changed("support", scientsbank_macro_f1=0.7115)) == (False, [])
    assert selection_figures.compare(BASE, changed("review", team_qwk=0.903))[0] is False
    # one loss beyond its tolerance refuses the variant whatever it gains elsewhere
    worse = {**changed("review", swap_recall=0.9, team_false_flags=0.02)}
    chosen, lines = selection_figures.compare(BASE, worse)
    assert chosen is False and "review.team_false_flags: 0.0 -> 0.02 (worse)" in lines
    # a change of exactly one tolerance counts, whichever way its floating-point difference rounds
    assert selection_figures.compare(BASE, changed("support", scientsbank_macro_f1=0.711)) == (
        False, ["support.scientsbank_macro_f1: 0.712 -> 0.711 (worse)"]
    )
    low, high = {"review": {"swap_recall": 0.004}}, {"review": {"swap_recall": 0.009}}
    assert selection_figures.compare(low, high) == (True, ["review.swap_recall: 0.004 -> 0.009 (better)"])
    assert selection_figures.compare(high, low) == (False, ["review.swap_recall: 0.009 -> 0.004 (worse)"])
    # figures that are not measures (a fitted threshold) are not compared
    assert selection_figures.compare(BASE, changed("review", scientsbank_threshold=3.0)) == (False, [])


def test_compare_reads_two_saved_runs_and_says_which_way(tmp_path, capsys):
    base, variant = tmp_path / "base.json", tmp_path / "variant.json"
    base.write_text(json.dumps(BASE))
    variant.write_text(json.dumps(changed("support", saf_pearson=0.65)))
    assert selection_figures.main(["--compare", str(base), str(variant)]) == 0
    assert "variant is better by the rule" in capsys.readouterr().out
    assert selection_figures.main(["--compare", str(variant), str(base)]) == 1
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SystemExit):
        selection_figures.main(["--compare", str(base), str(tmp_path / "bad.json")])
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.skipif(not DATASETS_DIR.is_dir(), reason=f"{DATASETS_DIR} is not available")
def test_a_small_run_reads_every_selection_group(tmp_path):
    out = tmp_path / "figures.json"
    assert selection_figures.main(["--limit", "3", "--out", str(out)]) == 0
    found = json.loads(out.read_text())
    assert {"team_qwk", "swap_recall", "scientsbank_macro_f1"} <= set(found["review"])
    assert {"saf_pearson", "scientsbank_macro_f1"} <= set(found["support"])
