"""Writing a scenario by hand: YAML input, `pmcomm new` templates, the schema and messages a person acts on."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from pmcomm_llm import ScenarioError, parse_scenario
from pmcomm_llm.cli.commands import cli
from pmcomm_llm.core.authoring import SCHEMA_ID, scenario_schema, scenario_template

KINDS = ["decline_request", "cancel_project", "manage_expectations", "delay_notice"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("language", ["zh-CN", "zh-TW", "en"])
@pytest.mark.parametrize("channel", ["email", "im"])
def test_every_new_template_is_a_valid_scenario_of_what_was_asked(kind, language, channel):
    text = scenario_template(kind, language, channel)
    assert text.startswith("# ") and "# yaml-language-server: $schema=./scenario.schema.json" in text
    scenario = parse_scenario(yaml.safe_load(text))
    assert (scenario.kind.value, scenario.language, scenario.channel) == (kind, language, channel)


def test_new_prints_a_template_validate_accepts_and_draft_drafts(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["new", "delay_notice", "--language", "zh-tw"])
    assert result.exit_code == 0 and "延期通知" in result.output
    path = tmp_path / "s.yaml"
    path.write_text(result.output, encoding="utf-8")
    assert runner.invoke(cli, ["validate", str(path)]).output.strip() == "1 valid, 0 invalid"
    out = tmp_path / "o.jsonl"
    assert runner.invoke(cli, ["draft", str(path), "-o", str(out), "--backend", "offline", "--quiet"]).exit_code == 0
    assert json.loads(out.read_text(encoding="utf-8"))["id"] == "my-delay-notice"


def test_yaml_input_names_each_bad_item_by_its_line(tmp_path):
    good = yaml.safe_dump([yaml.safe_load(scenario_template("decline_request", "en"))], allow_unicode=True)
    path = tmp_path / "two.yaml"
    path.write_text("# two scenarios, one incomplete\n" + good + "- kind: delay_notice\n  sender: {name: x}\n",
                    encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    bad_line = path.read_text(encoding="utf-8").splitlines().index("- kind: delay_notice") + 1
    assert f"line {bad_line}: client: is required" in result.output and "1 valid, 1 invalid" in result.output


def test_broken_yaml_is_one_message_with_its_line(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("kind: delay_notice\nfacts: [\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2 and "not valid YAML at line 3" in result.output


def test_schema_describes_every_field_and_carries_an_id():
    schema = scenario_schema()
    assert schema["$id"] == SCHEMA_ID
    assert all(schema["properties"][name].get("description") for name in
               ("kind", "language", "channel", "facts", "offers", "boundaries", "internal_notes", "client_message"))
    assert schema["$defs"]["Facts"]["properties"]["reason"]["description"].endswith("Required.")
    assert "delay_notice needs facts.dates.new_deadline" in schema["description"]


def test_validation_messages_name_the_id_and_the_field_once_and_suggest_a_spelling(examples, tmp_path):
    misspelt = dict(examples[1])
    misspelt["internal_note"] = misspelt.pop("internal_notes")
    wrong_kind = dict(examples[0], kind="postpone")
    path = tmp_path / "in.json"
    path.write_text(json.dumps([wrong_kind, misspelt], ensure_ascii=False), encoding="utf-8")
    lines = CliRunner().invoke(cli, ["validate", str(path)]).output.splitlines()
    assert lines[0].startswith(f"item 1 ({examples[0]['id']}): kind: must be one of")
    assert lines[1] == (f"item 2 ({examples[1]['id']}): internal_note: is not a known field (check its spelling; "
                        "`pmcomm schema` lists the fields); did you mean 'internal_notes'?")


def test_people_type_language_codes_in_any_case_and_lists_as_one_line(examples):
    data = dict(examples[0], language="ZH-cn")
    data["facts"] = dict(data["facts"], evidence="合同约定的交付物为两项", done="需求分析")
    scenario = parse_scenario(data)
    assert scenario.language == "zh-CN"
    assert scenario.facts.evidence == ["合同约定的交付物为两项"] and scenario.facts.done == ["需求分析"]


def test_offer_ids_may_be_chinese_but_not_two_lines(examples):
    ok = dict(examples[0], offers=[{"id": "方案一", "text": "分两期交付"}])
    assert parse_scenario(ok).offers[0].id == "方案一"
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(dict(examples[0], offers=[{"id": "a\nb", "text": "x"}]))
    assert caught.value.field == "offers[0].id" and "one line" in caught.value.reason


def test_a_flagged_markdown_draft_starts_with_what_is_wrong(tmp_path):
    from pmcomm_llm.batch.records import render_markdown

    record = {"id": "x", "draft": {"subject": "S", "body": "B", "next_step": "N"},
              "meta": {"kind": "delay_notice", "language": "en", "channel": "email", "backend": "openai",
                       "model": "m", "prompt_version": "p",
                       "guard": {"passed": False, "violations": [{"id": "fabricated_fact", "message": "states 9"}],
                                 "notes": [{"message": "proposes at 10 for a call: confirm it"}]}}}
    text = render_markdown(record)
    assert text.index("FLAGGED") < text.index("**Subject:**") and "`fabricated_fact`: states 9" in text
    assert text.index("To confirm before sending") < text.index("B")


def test_drafts_go_to_standard_output_with_dash(tmp_path, examples, monkeypatch):
    src = tmp_path / "in.json"
    src.write_text(json.dumps(examples[:2], ensure_ascii=False), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["draft", str(src), "-o", "-", "--backend", "offline", "--quiet"])
    assert result.exit_code == 0
    assert [json.loads(x)["id"] for x in result.output.splitlines()] == [e["id"] for e in examples[:2]]
    assert not (tmp_path / "-").exists()


def test_evaluate_takes_a_plain_dict_or_an_output_line(examples):
    from pmcomm_llm import draft, evaluate

    d = draft(examples[0], backend="offline")
    as_dict = evaluate({"subject": d.subject, "body": d.body}, examples[0])
    as_line = evaluate({"id": "x", "draft": {"subject": d.subject, "body": d.body}}, examples[0])
    assert as_dict.passed and as_line.score == as_dict.score


def test_the_html_report_lists_failing_drafts_first():
    from pmcomm_llm.evaluation.report import Report, render_html

    results = [{"draft_id": f"d{i}", "scenario_id": "s", "kind": "delay_notice", "language": "en",
                "channel": "email", "score": score, "passed": passed, "blocking_failures": [] if passed else ["x"],
                "subject": None, "body": f"body {i}", "checks": []} for i, (score, passed) in
               enumerate([(1.0, True), (0.4, False), (0.9, True), (0.7, False)])]
    html = render_html(Report.model_validate({"summary": {"count": 4, "passed": 2}, "results": results}))
    order = [html.index(f"body {i}") for i in (1, 3, 2, 0)]  # failing first; then by score, lowest first
    assert order == sorted(order)


def test_dry_run_shows_the_prompt_and_the_plan_and_calls_nothing(tmp_path, examples, server, monkeypatch):
    src, out = tmp_path / "in.json", tmp_path / "o.jsonl"
    src.write_text(json.dumps(examples[:3], ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    runner = CliRunner()
    result = runner.invoke(cli, ["draft", str(src), "-o", str(out), "--dry-run"])
    assert result.exit_code == 0
    assert "--- system (first item) ---" in result.output and examples[0]["project"] in result.output
    assert "items 3 valid, 0 invalid, 0 already drafted" in result.output
    assert "model calls 3 (at most 15 with re-asks)" in result.output and "a local endpoint: no dollar cost" in result.output
    assert not server.requests and not out.exists(), "a dry run calls nothing and writes nothing"
    assert runner.invoke(cli, ["draft", str(src), "-o", str(out), "--quiet"]).exit_code == 0
    again = runner.invoke(cli, ["draft", str(src), "-o", str(out), "--dry-run"])
    assert "3 already drafted" in again.output and "model calls 0" in again.output


def test_a_dry_run_prices_a_remote_model_from_the_price_table(tmp_path, examples, monkeypatch):
    from pmcomm_llm import Settings
    from pmcomm_llm.batch.runner import RunOptions, estimate_tokens, plan_run

    src = tmp_path / "in.json"
    src.write_text(json.dumps(examples[:2], ensure_ascii=False), encoding="utf-8")
    plan = plan_run(str(src), Settings(api_key="sk-test", model="gpt-4.1-mini"),
                    RunOptions(output=tmp_path / "o.jsonl"))
    assert plan.calls == 2 and plan.estimated_input_tokens > 0
    assert plan.estimated_cost_usd == pytest.approx(plan.estimated_input_tokens * 0.40 / 1e6, abs=1e-6)
    assert estimate_tokens("项目延期") == 4 and estimate_tokens("abcdefgh") == 2


def test_a_word_diff_for_english_and_a_character_diff_for_chinese():
    from pmcomm_llm.evaluation.diffing import token_diff

    assert token_diff("新的完成日期为1月25日。", "新的完成日期为1月28日。") == [
        ("=", "新的完成日期为1月"), ("-", "25"), ("+", "28"), ("=", "日。")]
    assert token_diff("We will ship on Friday.", "We will ship on Monday.") == [
        ("=", "We will ship on "), ("-", "Friday"), ("+", "Monday"), ("=", ".")]


def test_pmcomm_diff_shows_tracked_changes_and_the_verdicts_that_changed(tmp_path, examples):
    from pmcomm_llm import draft

    scenario = examples[0]
    d = draft(scenario, backend="offline")
    before = {"id": scenario["id"], "draft": {"subject": d.subject, "body": d.body},
              "meta": {"guard": {"passed": True, "violations": []}}}
    after = json.loads(json.dumps(before))
    after["draft"]["body"] = d.body + "\n另外这次我们给您打八折。"
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(json.dumps(before, ensure_ascii=False) + "\n", encoding="utf-8")
    b.write_text(json.dumps(after, ensure_ascii=False) + "\n", encoding="utf-8")
    scenarios = tmp_path / "s.json"
    scenarios.write_text(json.dumps([scenario], ensure_ascii=False), encoding="utf-8")
    runner = CliRunner()
    text = runner.invoke(cli, ["diff", str(a), str(b), "--scenarios", str(scenarios)]).output
    assert "{+\n另外这次我们给您打八折。+}" in text and "unauthorized_commitment: pass → fail" in text
    html_out = runner.invoke(cli, ["diff", str(a), str(b), "--format", "html"]).output
    assert "<ins>\n另外这次我们给您打八折。</ins>" in html_out and "default-src 'none'" in html_out
    same = runner.invoke(cli, ["diff", str(a), str(a)])
    assert same.output.strip() == "no changes"


def test_a_dry_run_leaves_a_damaged_output_as_it_found_it(tmp_path, examples):
    src, out = tmp_path / "in.json", tmp_path / "o.jsonl"
    src.write_text(json.dumps(examples[:2], ensure_ascii=False), encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(cli, ["draft", str(src), "-o", str(out), "--backend", "offline", "--quiet"]).exit_code == 0
    out.write_bytes(out.read_bytes() + b'{"garbled\n')
    before = out.read_bytes()
    result = runner.invoke(cli, ["draft", str(src), "-o", str(out), "--dry-run", "--backend", "offline"])
    assert result.exit_code == 0 and "2 already drafted" in result.output
    assert out.read_bytes() == before and not (tmp_path / "o.jsonl.rejected").exists()
