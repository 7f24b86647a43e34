"""Calibration: how far the rubric's verdicts agree with people's labels on the golden sets.

Per deterministic check: precision, recall and F1 against the labels (a label means "this check should fail").
Per judge criterion (when a judge is configured): Cohen's kappa and raw agreement against the labels mapped to
it in the rubric. Plus separation: how many good drafts pass and flawed drafts fail overall.
"""

from __future__ import annotations

from typing import Any

from pmcomm_llm.core.aio import run_sync
from pmcomm_llm.core.resources import data_dir
from pmcomm_llm.evaluation.rubric import Rubric, load_rubric
from pmcomm_llm.evaluation.scoring import DraftRecord, aevaluate, load_draft_records, load_scenarios

__all__ = ["GOLDEN_SETS", "calibrate", "golden_set", "render_calibration"]

GOLDEN_SETS = {
    "corpus-dev": ("corpus/dev.jsonl", "corpus/scenarios.json"),
    "corpus-holdout": ("corpus/holdout.jsonl", "corpus/scenarios.json"),
    "corpus-dev2": ("corpus/dev2.jsonl", "corpus/scenarios.json"),
    "corpus-holdout2": ("corpus/holdout2.jsonl", "corpus/scenarios.json"),
    "dev": ("golden/drafts.jsonl", "golden/scenarios.json"),
    "holdout": ("golden/holdout/drafts.jsonl", "golden/scenarios.json"),
}
"""Labelled sets (``evals/``): the independent corpus (tune on ``corpus-dev`` only; ``corpus-holdout`` is the
honest measurement) and the first golden sets, kept as regression sets."""


def golden_set(name: str) -> tuple[list[DraftRecord], dict[str, Any]]:
    """The labelled drafts of one set and the scenarios they answer."""
    root = data_dir("evals")
    if name not in GOLDEN_SETS:
        raise ValueError(f"unknown golden set {name!r}; choose from {', '.join(GOLDEN_SETS)}")
    drafts, scenarios = GOLDEN_SETS[name]
    return load_draft_records(root / drafts), load_scenarios(root / scenarios)


def _auc(good: list[float], flawed: list[float]) -> float | None:
    """P(a good draft scores above a flawed one), ties counting half: how well the score ranks drafts."""
    if not good or not flawed:
        return None
    wins = sum(1.0 if g > f else 0.5 if g == f else 0.0 for g in good for f in flawed)
    return round(wins / (len(good) * len(flawed)), 3)


def _kappa(pairs: list[tuple[bool, bool]]) -> float | None:
    n = len(pairs)
    if not n:
        return None
    observed = sum(a == b for a, b in pairs) / n
    pa = sum(a for a, _ in pairs) / n
    pb = sum(b for _, b in pairs) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    return 1.0 if expected == 1 else round((observed - expected) / (1 - expected), 3)


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return round(precision, 3), round(recall, 3), round(f1, 3)


async def _acalibrate(records: list[DraftRecord], scenarios: dict[str, Any], rubric: Rubric,
                      judge: Any) -> dict[str, Any]:
    counts: dict[str, dict[str, int]] = {}
    judge_pairs: dict[str, list[tuple[bool, bool]]] = {}
    good_pass = good = flawed_fail = flawed = 0
    misses: dict[str, list[str]] = {}
    scores: dict[bool, list[float]] = {True: [], False: []}
    for r in records:
        labels = set(r.labels or [])
        evaluation = await aevaluate(r, scenarios[r.scenario_id], judge=judge, rubric=rubric)
        for check in evaluation.checks:
            criterion = rubric.by_id(check.id)
            if not criterion.calibrated:
                continue
            predicted_fail = not check.passed
            if check.grader == "judge":
                gold_fail = bool(labels & set(criterion.labels))
                judge_pairs.setdefault(check.id, []).append((predicted_fail, gold_fail))
                continue
            gold_fail = check.id in labels
            c = counts.setdefault(check.id, {"tp": 0, "fp": 0, "fn": 0, "tn": 0, "good_flagged": 0})
            key = ("tp" if gold_fail else "fp") if predicted_fail else ("fn" if gold_fail else "tn")
            c[key] += 1
            c["good_flagged"] += predicted_fail and not labels
            if key in ("fp", "fn"):
                misses.setdefault(check.id, []).append(f"{key}:{r.draft_id}")
        scores[not labels].append(evaluation.score)
        if labels:
            flawed += 1
            flawed_fail += not evaluation.passed
        else:
            good += 1
            good_pass += evaluation.passed
    checks = []
    for cid, c in counts.items():
        p, rcl, f1 = _prf(c["tp"], c["fp"], c["fn"])
        negatives = c["fp"] + c["tn"]
        checks.append({"id": cid, **c, "support": c["tp"] + c["fn"], "precision": p, "recall": rcl, "f1": f1,
                       "false_flag_rate": round(c["fp"] / negatives, 3) if negatives else 0.0,
                       "good_flag_rate": round(c["good_flagged"] / good, 3) if good else 0.0,
                       "misses": misses.get(cid, [])})
    judged = [{"id": cid, "n": len(p), "agreement": round(sum(a == b for a, b in p) / len(p), 3),
               "kappa": _kappa(p)} for cid, p in judge_pairs.items()]
    return {"drafts": len(records), "checks": checks, "judge": judged,
            "separation": {"good": good, "good_passed": good_pass, "flawed": flawed, "flawed_failed": flawed_fail,
                           "good_pass_rate": round(good_pass / good, 3) if good else None,
                           "auc": _auc(scores[True], scores[False])}}


def calibrate(records: list[DraftRecord], scenarios: dict[str, Any], *, rubric: Rubric | None = None,
              judge: Any = None) -> dict[str, Any]:
    """Score labelled drafts and compare with their labels.

    Only the calibrated criteria take part, in the per-check figures and in the separation: a criterion no label
    measures (``calibrated: false``) says nothing about whether a draft is good in the labels' sense, and its
    failures would be counted as the rubric's errors."""
    rubric = rubric or load_rubric()
    measured = rubric.model_copy(update={"criteria": [c for c in rubric.criteria if c.calibrated]})
    return run_sync(_acalibrate(records, scenarios, measured, judge))


def render_calibration(result: dict[str, Any], title: str = "") -> str:
    lines = [title] if title else []
    lines.append(f"{'check':26s} {'support':>7s} {'tp':>4s} {'fp':>4s} {'fn':>4s} {'precision':>9s} "
                 f"{'recall':>7s} {'F1':>6s} {'false flags':>11s} {'on good':>8s}")
    for c in result["checks"]:
        lines.append(f"{c['id']:26s} {c['support']:7d} {c['tp']:4d} {c['fp']:4d} {c['fn']:4d} "
                     f"{c['precision']:9.2f} {c['recall']:7.2f} {c['f1']:6.2f} {c['false_flag_rate']:11.1%} "
                     f"{c.get('good_flag_rate', 0.0):8.1%}")
    if result["judge"]:
        lines.append("")
        lines.append(f"{'judge criterion':26s} {'n':>4s} {'agreement':>9s} {'kappa':>6s}")
        for j in result["judge"]:
            kappa = "-" if j["kappa"] is None else f"{j['kappa']:.2f}"
            lines.append(f"{j['id']:26s} {j['n']:4d} {j['agreement']:9.2f} {kappa:>6s}")
    s = result["separation"]
    lines.append("")
    lines.append(f"{'':26s} false flags: share of drafts without the label that the check fails; on good: share of "
                 "the good drafts it fails")
    auc = "-" if s.get("auc") is None else f"{s['auc']:.3f}"
    lines.append(f"{result['drafts']} drafts: {s['good_passed']}/{s['good']} good drafts pass, "
                 f"{s['flawed_failed']}/{s['flawed']} flawed drafts fail; score AUC {auc}")
    return "\n".join(lines)
