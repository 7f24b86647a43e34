"""The pmcomm command, run as a user runs it: files in, files out, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pmcomm_llm.cli.commands import cli as main

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, input: str | None = None):
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_draft_examples_offline_writes_one_line_per_scenario(tmp_path, examples):
    out = tmp_path / "out.jsonl"
    result = run("draft", str(ROOT / "examples/scenarios.json"), "-o", str(out))
    assert result.exit_code == 0, result.output
    records = lines(out)
    assert [r["id"] for r in sorted(records, key=lambda r: r["id"])] == sorted(s["id"] for s in examples)
    for r in records:
        assert set(r) == {"id", "draft", "meta"}
        assert r["meta"]["backend"] == "offline" and r["meta"]["guard"]["passed"]
        assert r["draft"]["body"] and r["draft"]["next_step"]
    assert f"drafted {len(examples)}, skipped 0" in result.output


def test_bad_items_go_to_errors_file_and_others_still_run(tmp_path, example):
    good = example("delay_notice")
    bad_kind = dict(example("cancel_project"), id="bad-kind", kind="postpone")
    missing = example("decline_request")
    missing["id"] = "no-request"
    del missing["facts"]["request"]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([json.dumps(good, ensure_ascii=False), "{not json", json.dumps(bad_kind),
                              json.dumps(missing), ""]), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = run("draft", str(src), "-o", str(out))
    assert result.exit_code == 1
    assert [r["id"] for r in lines(out)] == [good["id"]]
    errors = {e.get("line"): e for e in lines(tmp_path / "out.errors.jsonl")}
    assert set(errors) == {2, 3, 4}
    assert errors[2]["stage"] == "input" and "not valid JSON" in errors[2]["message"]
    assert errors[3]["id"] == "bad-kind" and errors[3]["field"] == "kind"
    assert errors[4]["id"] == "no-request" and errors[4]["field"] == "facts.request"


@pytest.mark.parametrize(("content", "needle"), [
    (b"", "empty"), (b"[{]", "not valid JSON"), (b"\xff\xfe\x00bad", "not UTF-8"), (b"42", "expected a JSON array"),
])
def test_unusable_input_file_exits_2_with_a_clear_message(tmp_path, content, needle):
    src = tmp_path / "in.json"
    src.write_bytes(content)
    result = run("draft", str(src), "-o", str(tmp_path / "o.jsonl"))
    assert result.exit_code == 2 and needle in result.output


def test_missing_input_file(tmp_path):
    result = run("draft", str(tmp_path / "nope.json"), "-o", str(tmp_path / "o.jsonl"))
    assert result.exit_code == 2 and "no such file" in result.output


def test_stdin_and_object_with_scenarios_array(tmp_path, examples):
    out = tmp_path / "o.jsonl"
    result = run("draft", "-", "-o", str(out), input=json.dumps({"scenarios": examples[:2]}))
    assert result.exit_code == 0 and len(lines(out)) == 2
    out2 = tmp_path / "o2.jsonl"
    result = run("draft", "-", "-o", str(out2), input="\n".join(json.dumps(s) for s in examples[:3]))
    assert result.exit_code == 0 and len(lines(out2)) == 3


def test_rerun_skips_done_items_and_redrafts_edited_ones(tmp_path, examples):
    src = tmp_path / "in.json"
    src.write_text(json.dumps(examples), encoding="utf-8")
    out = tmp_path / "o.jsonl"
    run("draft", str(src), "-o", str(out))
    first = lines(out)
    result = run("draft", str(src), "-o", str(out))
    assert f"skipped {len(examples)}" in result.output and lines(out) == first
    examples[0]["situation"] += " Updated."
    src.write_text(json.dumps(examples), encoding="utf-8")
    result = run("draft", str(src), "-o", str(out))
    assert f"drafted 1, skipped {len(examples) - 1} " in result.output
    records = lines(out)
    assert len(records) == len(examples) and len({r["id"] for r in records}) == len(examples)


def test_duplicate_ids_are_errors(tmp_path, example):
    a = example("delay_notice")
    src = tmp_path / "in.json"
    src.write_text(json.dumps([a, a]), encoding="utf-8")
    result = run("draft", str(src), "-o", str(tmp_path / "o.jsonl"))
    assert result.exit_code == 1
    err = lines(tmp_path / "o.errors.jsonl")[0]
    assert err["field"] == "id" and "duplicate" in err["message"] and err["index"] == 1


def test_markdown_output_is_readable(tmp_path, examples):
    out = tmp_path / "o.md"
    result = run("draft", str(ROOT / "examples/scenarios.json"), "-o", str(out), "--format", "md", "--quiet")
    assert result.exit_code == 0
    text = out.read_text(encoding="utf-8")
    assert text.count("\n## ") + text.startswith("## ") == len(examples) and "**Subject:**" in text
    # a chat message leaves out the status lists, and the reader is told what was left out
    section = text.split("## delay-kiosk-en")[1].split("\n## ")[0]
    assert "*Left out to fit the length or the channel:* " in section and "facts.done/facts.remaining" in section


def test_validate_reports_invalid_items(tmp_path, example):
    bad = dict(example("delay_notice"), tone="angry")
    src = tmp_path / "in.json"
    src.write_text(json.dumps([example("cancel_project"), bad]), encoding="utf-8")
    result = run("validate", str(src))
    assert result.exit_code == 1 and "1 valid, 1 invalid" in result.output and "tone" in result.output


def test_schema_prints_the_scenario_json_schema():
    result = run("schema")
    schema = json.loads(result.output)
    assert {"kind", "facts", "offers", "internal_notes", "client_message"} <= set(schema["properties"])


def test_openai_backend_via_base_url_env(tmp_path, server, monkeypatch, examples):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("PMCOMM_MODEL", "fake-model")
    out = tmp_path / "o.jsonl"
    result = run("draft", str(ROOT / "examples/scenarios.json"), "-o", str(out), "--concurrency", "4")
    assert result.exit_code == 0, result.output
    records = lines(out)
    assert len(records) == len(examples) and all(r["meta"]["backend"] == "openai" for r in records)
    assert sum(1 for r in server.requests if r.path.endswith("/chat/completions")) == len(examples)


def test_auth_failure_stops_the_run_with_exit_3(tmp_path, server, monkeypatch):
    from pmcomm_llm.testing import Status

    server.enqueue(*[Status(401)] * 20)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-123")
    out = tmp_path / "o.jsonl"
    result = run("draft", str(ROOT / "examples/scenarios.json"), "-o", str(out), "--concurrency", "1")
    assert result.exit_code == 3 and "rejected the API key" in result.output
    assert "sk-wrong" not in result.output
    assert sum(1 for r in server.requests if r.path.endswith("/chat/completions")) == 1


def test_console_script_runs_as_a_process(tmp_path, examples):
    out = tmp_path / "o.jsonl"
    proc = subprocess.run([sys.executable, "-m", "pmcomm_llm.cli.commands", "draft", str(ROOT / "examples/scenarios.json"),
                           "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "drafting offline" in proc.stderr and len(lines(out)) == len(examples)


def test_validate_and_new_load_neither_langchain_nor_the_sdk():
    """Commands that call no model start fast: drafting's imports load only when something is drafted."""
    probe = ("import sys; from click.testing import CliRunner; from pmcomm_llm.cli.commands import cli; "
             "a = CliRunner().invoke(cli, ['validate', 'examples/scenarios.json']); "
             "b = CliRunner().invoke(cli, ['new', 'delay_notice']); "
             "print(a.exit_code, b.exit_code, sorted(m for m in ('langchain_core', 'openai', 'langchain_openai') "
             "if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["0", "0", "[]"], proc.stdout + proc.stderr
