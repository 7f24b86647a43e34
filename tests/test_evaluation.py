"""The evaluation harness: rubric, checks on the golden sets, scoring, reports, judge, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pmcomm_llm import Drafter, evaluate, parse_scenario
from pmcomm_llm.cli.commands import cli as main
from pmcomm_llm.core.errors import PromptError
from pmcomm_llm.core.settings import Settings
from pmcomm_llm.evaluation.calibration import calibrate, golden_set
from pmcomm_llm.evaluation.judge import Judge
from pmcomm_llm.evaluation.rubric import load_rubric
from pmcomm_llm.grounding.checks import Candidate
from pmcomm_llm.testing import FakeOpenAIServer, Reply
from pmcomm_llm.testing.responders import judge_responder

ROOT = Path(__file__).resolve().parent.parent

# Floors on the labelled sets. The dev set was used to tune the lexicons; the holdout set never was.
DEV_F1_FLOOR = 0.7
HOLDOUT_MEAN_F1_FLOOR = 0.6


def test_rubric_loads_with_every_check_id():
    rubric = load_rubric()
    ids = {c.id for c in rubric.criteria}
    for required in ["fabricated_fact", "internal_leak", "unauthorized_commitment", "blame", "blunt_refusal",
                     "missing_reason", "missing_alternative", "missing_new_date", "missing_next_step",
                     "missing_empathy", "missing_greeting", "missing_close", "missing_subject", "too_long"]:
        assert required in ids
    assert all(c.blocking for c in rubric.criteria if c.principle == "safety")
    assert len(rubric.hash) == 12


def test_invalid_rubric_names_the_entry(monkeypatch):
    from pmcomm_llm.evaluation import rubric as module

    original = module.load_yaml

    def broken(area, rel):
        data = json.loads(json.dumps(original(area, rel)))
        data["criteria"][2]["weight"] = -1
        return data

    monkeypatch.setattr(module, "load_yaml", broken)
    module.load_rubric.cache_clear()
    try:
        with pytest.raises(PromptError, match=r"criteria\.2 \(unauthorized_commitment\)\.weight"):
            module.load_rubric()
    finally:
        module.load_rubric.cache_clear()


def test_every_example_offline_draft_passes_every_check(examples):
    for data in examples:
        scenario = parse_scenario(data)
        result = evaluate(Drafter(backend="offline").draft(scenario), scenario)
        failing = [c for c in result.checks if not c.passed]
        assert result.passed and not failing, (scenario.id, failing)


def test_checks_meet_their_floor_on_the_dev_set():
    records, scenarios = golden_set("dev")
    result = calibrate(records, scenarios)
    for row in result["checks"]:
        assert row["f1"] >= DEV_F1_FLOOR, row
    sep = result["separation"]
    assert sep["good_passed"] == sep["good"], "every good draft passes"
    assert sep["flawed_failed"] / sep["flawed"] >= 0.85


def test_checks_generalise_to_the_holdout_set():
    records, scenarios = golden_set("holdout")
    result = calibrate(records, scenarios)
    mean_f1 = sum(r["f1"] for r in result["checks"]) / len(result["checks"])
    assert mean_f1 >= HOLDOUT_MEAN_F1_FLOOR, result["checks"]
    sep = result["separation"]
    assert sep["good_passed"] / sep["good"] >= 0.7


def test_a_flawed_draft_fails_with_evidence_and_a_blocking_reason(example):
    data = example("delay_notice", language="zh-CN")
    scenario = parse_scenario(data)
    good = Drafter(backend="offline").draft(scenario)
    assert "2027年1月25日" in good.body
    bad = Candidate(good.subject, good.body.replace("2027年1月25日", "2027年3月3日", 1))
    result = evaluate(bad, scenario, draft_id="planted")
    assert not result.passed and "fabricated_fact" in result.blocking_failures
    check = next(c for c in result.checks if c.id == "fabricated_fact")
    text = f"{bad.subject}\n{bad.body}"
    a, b = check.spans[0]
    assert "2027年3月3日" in text[a:b] and check.evidence and check.message
    assert 0 < result.score < 1


def test_eval_cli_writes_report_html_and_md(tmp_path):
    out, html, md = tmp_path / "r.json", tmp_path / "r.html", tmp_path / "r.md"
    result = CliRunner().invoke(main, ["eval", "--scenarios", str(ROOT / "evals/golden/scenarios.json"), "--drafts",
                                       str(ROOT / "evals/golden/drafts.jsonl"), "-o", str(out), "--html", str(html),
                                       "--md", str(md)])
    assert result.exit_code == 1, result.output  # the golden set holds flawed drafts
    report = json.loads(out.read_text(encoding="utf-8"))
    assert set(report["summary"]) >= {"count", "pass_rate", "mean_score", "by_kind", "by_language", "by_criterion"}
    row = report["results"][0]
    assert set(row) >= {"draft_id", "scenario_id", "score", "passed", "checks"}
    assert set(row["checks"][0]) >= {"id", "passed", "score", "evidence", "message"}
    assert "<mark" in html.read_text(encoding="utf-8") and "gd-" in md.read_text(encoding="utf-8")


def test_eval_compare_shows_changed_verdicts(tmp_path):
    scen = str(ROOT / "evals/golden/scenarios.json")
    lines = [json.loads(x) for x in (ROOT / "evals/golden/drafts.jsonl").read_text(encoding="utf-8").splitlines()]
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines[:6]), encoding="utf-8")
    lines[0]["body"] += "\n我们保证全额退款。"  # a new unauthorised promise in B
    b.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines[:6]), encoding="utf-8")
    runner = CliRunner()
    for src, out in ((a, "ra.json"), (b, "rb.json")):
        runner.invoke(main, ["eval", "--scenarios", scen, "--drafts", str(src), "-o", str(tmp_path / out)])
    result = runner.invoke(main, ["eval", "compare", str(tmp_path / "ra.json"), str(tmp_path / "rb.json"), "--json"])
    cmp = json.loads(result.output)
    changed = {c["draft_id"]: c for c in cmp["changed"]}
    assert lines[0]["id"] in changed and "unauthorized_commitment" in changed[lines[0]["id"]]["newly_failing"]


def test_calibrate_cli_prints_the_per_check_table():
    result = CliRunner().invoke(main, ["eval", "calibrate", "--set", "dev"])
    assert result.exit_code == 0
    assert "precision" in result.output and "fabricated_fact" in result.output and "good drafts pass" in result.output


def test_draft_evaluate_attaches_the_evaluation(tmp_path):
    out = tmp_path / "o.jsonl"
    result = CliRunner().invoke(main, ["draft", str(ROOT / "examples/scenarios.json"), "-o", str(out), "--evaluate"])
    assert result.exit_code == 0
    for line in out.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        assert record["evaluation"]["passed"] and record["evaluation"]["checks"]


# --- the judge, against a local OpenAI-compatible server --------------------------------------------------

def _judge(server, **extra):
    settings = Settings.resolve(judge_model="judge-model", judge_base_url=server.base_url, judge_api_key="sk-j",
                                backoff_max=0.1, **extra)
    return Judge(settings, load_rubric())


def test_judge_scores_each_criterion_with_quote_and_counts_tokens(example):
    data = example("delay_notice", language="zh-CN")
    scenario = parse_scenario(data)
    draft = Drafter(backend="offline").draft(scenario)
    with FakeOpenAIServer(responder=judge_responder) as server:
        result = evaluate(draft, scenario, judge=_judge(server))
        request = server.requests[-1].json
    judged = [c for c in result.checks if c.grader == "judge"]
    assert {c.id for c in judged} == {"judge_transparency", "judge_alternatives", "judge_tone", "judge_win_win"}
    assert all(c.passed and c.evidence in draft.text for c in judged)
    assert result.judge_usage.calls == 1 and result.judge_usage.input_tokens > 0
    assert request["temperature"] == 0.0 and request["model"] == "judge-model"
    assert "Simplified Chinese" in request["messages"][0]["content"]


def test_judge_quote_not_in_draft_is_reasked(example):
    scenario = parse_scenario(example("decline_request", language="en"))
    draft = Drafter(backend="offline").draft(scenario)
    with FakeOpenAIServer(responder=judge_responder) as server:
        messages = _judge(server).messages(Candidate.of(draft), scenario, load_rubric().judged_for(scenario.kind))
        invented = judge_responder({"messages": messages})
        invented["verdicts"][0]["quote"] = "We will refund everything."
        server.enqueue(Reply(invented))
        result = evaluate(draft, scenario, judge=_judge(server))
        chats = [r for r in server.requests if r.path.endswith("/chat/completions")]
    assert len(chats) == 2
    assert "not in the message" in chats[1].json["messages"][-1]["content"]
    assert all(c.evidence != "We will refund everything." for c in result.checks)


def test_judge_verdict_is_computed_from_the_score_not_chosen(example):
    scenario = parse_scenario(example("cancel_project", language="en"))
    draft = Drafter(backend="offline").draft(scenario)
    with FakeOpenAIServer(responder=lambda r: judge_responder(r, score=3)) as server:
        result = evaluate(draft, scenario, judge=_judge(server))
    judged = [c for c in result.checks if c.grader == "judge"]
    assert judged and all(not c.passed and c.score == 0.5 for c in judged)
    assert not result.passed  # every deterministic check passed; the judge's low scores pull it under


def test_judge_rationale_in_the_wrong_language_is_reasked(example):
    scenario = parse_scenario(example("delay_notice", language="zh-CN"))
    draft = Drafter(backend="offline").draft(scenario)

    def english_first(request):
        answer = judge_responder(request)
        if len(request["messages"]) == 2:
            for v in answer["verdicts"]:
                v["rationale"] = "Looks fine."
        return answer

    with FakeOpenAIServer(responder=english_first) as server:
        result = evaluate(draft, scenario, judge=_judge(server))
        chats = [r for r in server.requests if r.path.endswith("/chat/completions")]
    assert len(chats) == 2 and "language" in chats[1].json["messages"][-1]["content"]
    assert all("整体" in c.message for c in result.checks if c.grader == "judge")


def test_the_independent_corpus_dev_set_holds_its_measured_floor():
    result = calibrate(*golden_set("corpus-dev"))
    by_id = {row["id"]: row for row in result["checks"]}
    for check in ("fabricated_fact", "internal_leak", "unauthorized_commitment", "missing_new_date"):
        assert by_id[check]["f1"] >= 0.85 and by_id[check]["good_flag_rate"] <= 0.02, by_id[check]
    sep = result["separation"]
    assert sep["good_pass_rate"] >= 0.9 and sep["auc"] >= 0.9, sep


def test_the_second_dev_round_holds_its_measured_floor():
    """Regression floors on the sets the checks are tuned on (dev and dev2). No test reads a corpus holdout: a test
    that scored one on every run would make it a tuning signal (evals/corpus/README.md)."""
    result = calibrate(*golden_set("corpus-dev2"))
    sep = result["separation"]
    assert sep["good_pass_rate"] >= 0.9 and sep["auc"] >= 0.85, sep
