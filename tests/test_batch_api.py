"""The OpenAI Batch API mode against the local fake provider: files, batches, polling, collecting, resuming.

Every test talks HTTP to a ``FakeOpenAIServer`` on 127.0.0.1 whose "model" answers like the offline drafter,
so the drafts are realistic and the guard really runs. Poll intervals are tiny: the file runs in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import openai
import pytest

from pmcomm_llm.batch import batchapi
from pmcomm_llm.core.errors import AuthenticationError
from pmcomm_llm.core.inputs import prepare, read_items
from pmcomm_llm.core.settings import Settings
from pmcomm_llm.drafting.chain import Drafter
from pmcomm_llm.testing import FakeOpenAIServer, Malformed, Status
from pmcomm_llm.testing.responders import offline_responder
from pmcomm_llm.testing.server import _error_body, _json_response

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "scenarios.json"
N = len(json.loads(EXAMPLES.read_text(encoding="utf-8")))
"""How many example scenarios there are: every run below drafts all of them."""
KEY = "sk-test-not-a-real-key"
FAST = {"poll_interval": 0.01, "poll_max_interval": 0.05}


@pytest.fixture()
def srv() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(responder=offline_responder, batch_polls_to_complete=2) as server:
        yield server


@pytest.fixture()
def settings(srv: FakeOpenAIServer) -> Settings:
    return Settings.resolve(backend="openai", base_url=srv.base_url, api_key=KEY, model="fake-model",
                            backoff_max=0.2)


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write_input(path: Path, items: list[Any]) -> Path:
    path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    return path


def _scenarios(path: Path) -> list[Any]:
    return [scenario for _, scenario, error in prepare(read_items(path)) if error is None]


def test_request_lines_use_item_id_and_the_online_request_body(settings: Settings) -> None:
    drafter = Drafter(settings)
    scenarios = _scenarios(EXAMPLES)
    lines = list(batchapi.build_request_lines(scenarios, drafter))
    assert [line["custom_id"] for line in lines] == [s.id for s in scenarios]
    for line, scenario in zip(lines, scenarios):
        assert line["method"] == "POST" and line["url"] == "/v1/chat/completions"
        assert line["body"] == drafter.request_body(scenario)
        assert line["body"]["model"] == "fake-model" and line["body"]["messages"]


def test_uploaded_file_holds_one_request_per_item_with_the_online_body(
        srv: FakeOpenAIServer, settings: Settings, tmp_path: Path) -> None:
    state = batchapi.submit(EXAMPLES, settings, tmp_path / "out.jsonl")
    drafter = Drafter(settings)
    expected = {s.id: drafter.request_body(s) for s in _scenarios(EXAMPLES)}
    client = openai.OpenAI(base_url=srv.base_url, api_key="test", max_retries=0)
    (job,) = state.jobs
    uploaded = [json.loads(line) for line in client.files.content(job.input_file_id).content.splitlines()]
    assert {line["custom_id"]: line["body"] for line in uploaded} == expected
    (batch,) = client.batches.list().data  # listing does not advance the fake's poll counter
    assert batch.input_file_id == job.input_file_id and batch.completion_window == "24h"
    assert batch.endpoint == "/v1/chat/completions" and batch.metadata["pmcomm_run"] == state.run_id
    assert [f.purpose for f in client.files.list().data] == ["batch"]


def test_full_run_writes_every_example_once_with_openai_backend_and_guard_passing(
        srv: FakeOpenAIServer, settings: Settings, tmp_path: Path, examples: list[dict[str, Any]]) -> None:
    out = tmp_path / "out.jsonl"
    summary = batchapi.run_batch_api(EXAMPLES, settings, out, **FAST)
    records = _lines(out)
    assert sorted(r["id"] for r in records) == sorted(e["id"] for e in examples)
    assert all(r["meta"]["backend"] == "openai" and r["meta"]["model"] == "fake-model" for r in records)
    assert all(r["meta"]["guard"]["passed"] for r in records)
    assert all(r["meta"]["usage"]["input_tokens"] > 0 and r["meta"]["usage"]["output_tokens"] > 0 for r in records)
    hashes = {s.id: s.content_hash()[:16] for s in _scenarios(EXAMPLES)}
    assert {r["id"]: r["meta"]["scenario_hash"] for r in records} == hashes
    assert summary.drafted == len(examples) and summary.failed == 0 and summary.stopped is None
    assert _lines(tmp_path / "out.errors.jsonl") == []
    assert srv.file_uploads == 1 and srv.batch_creates == 1
    assert not (tmp_path / "out.batch.requests").exists()  # request files are removed once in a batch


def test_a_second_run_over_the_same_input_submits_nothing(
        srv: FakeOpenAIServer, settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    batchapi.run_batch_api(EXAMPLES, settings, out, **FAST)
    before = out.read_bytes()
    summary = batchapi.run_batch_api(EXAMPLES, settings, out, **FAST)
    assert summary.drafted == 0 and summary.skipped == N
    assert out.read_bytes() == before and srv.file_uploads == 1 and srv.batch_creates == 1


def test_jobs_split_by_request_count(srv: FakeOpenAIServer, settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    summary = batchapi.run_batch_api(EXAMPLES, settings, out, max_requests=3, **FAST)
    assert srv.file_uploads == srv.batch_creates == -(-N // 3)
    state = batchapi.BatchState.load(tmp_path / "out.batch.json")
    assert [job.requests for job in state.jobs] == [3] * (N // 3) + ([N % 3] if N % 3 else [])
    assert summary.drafted == N and len(_lines(out)) == N


def test_jobs_split_by_size(srv: FakeOpenAIServer, settings: Settings, tmp_path: Path) -> None:
    sizes = [len(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode()) + 1
             for line in batchapi.build_request_lines(_scenarios(EXAMPLES), Drafter(settings))]
    state = batchapi.submit(EXAMPLES, settings, tmp_path / "out.jsonl", max_bytes=max(sizes) * 2)
    assert all(job.bytes <= max(sizes) * 2 for job in state.jobs)
    assert sum(job.requests for job in state.jobs) == N and len(state.jobs) >= 5
    assert srv.file_uploads == len(state.jobs) == srv.batch_creates


def test_resume_after_a_killed_submit_neither_uploads_nor_creates_again(
        srv: FakeOpenAIServer, settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    batchapi.submit(EXAMPLES, settings, out, max_requests=4)  # then the process "dies"
    uploads, creates = srv.file_uploads, srv.batch_creates
    assert (uploads, creates) == (3, 3)
    summary = batchapi.run_batch_api(EXAMPLES, settings, out, max_requests=4, **FAST)
    assert (srv.file_uploads, srv.batch_creates) == (uploads, creates)
    assert summary.drafted == N and sorted(r["id"] for r in _lines(out)) == sorted(
        s.id for s in _scenarios(EXAMPLES))


def test_resume_after_a_kill_during_create_finds_the_batch_instead_of_creating_another(
        srv: FakeOpenAIServer, settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    state = batchapi.submit(EXAMPLES, settings, out)
    # as if the process died after the create request reached the server but before its answer was saved
    state.jobs[0].batch_id = None
    state.jobs[0].status = "creating"
    state.save()
    summary = batchapi.run_batch_api(EXAMPLES, settings, out, **FAST)
    assert srv.file_uploads == 1 and srv.batch_creates == 1
    assert summary.drafted == N


def test_resume_after_a_kill_during_upload_finds_the_file_instead_of_uploading_again(
        srv: FakeOpenAIServer, settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    state = batchapi.submit(EXAMPLES, settings, out)
    # as if the process died after the upload reached the server but before its file id was saved
    job = state.jobs[0]
    job.input_file_id = job.batch_id = None
    job.status = "uploading"
    state.save()
    summary = batchapi.run_batch_api(EXAMPLES, settings, out, **FAST)
    assert srv.file_uploads == 1 and batchapi.BatchState.load(state.path).jobs[0].input_file_id == "file-1"
    assert srv.batch_creates == 2  # the kill came before any create: one is needed
    assert summary.drafted == N


def test_standard_input_is_kept_for_collect(
        srv: FakeOpenAIServer, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(EXAMPLES.read_bytes())))
    out = tmp_path / "out.jsonl"
    summary = batchapi.run_batch_api("-", settings, out, **FAST)
    assert summary.drafted == N and len(_lines(out)) == N
    state = batchapi.BatchState.load(tmp_path / "out.batch.json")
    assert state.input_origin == "-" and Path(state.input).is_file()


def test_collecting_twice_writes_nothing_the_second_time(
        srv: FakeOpenAIServer, settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    srv.enqueue(Status(500))
    state = batchapi.submit(EXAMPLES, settings, out)
    batchapi.poll(state.path, settings=settings, interval=0.01, max_interval=0.05)
    first = batchapi.collect(state.path, settings=settings)
    out_bytes, err_bytes = out.read_bytes(), (tmp_path / "out.errors.jsonl").read_bytes()
    second = batchapi.collect(state.path, settings=settings)
    assert (first.drafted, first.failed) == (N - 1, 1)
    assert (second.drafted, second.failed) == (0, 0)
    assert out.read_bytes() == out_bytes and (tmp_path / "out.errors.jsonl").read_bytes() == err_bytes
    assert batchapi.BatchState.load(state.path).finished


def test_a_failed_request_goes_to_errors_with_its_custom_id_and_the_rest_to_the_output(
        srv: FakeOpenAIServer, settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    first_id = _scenarios(EXAMPLES)[0].id
    srv.enqueue(Status(500))  # the first line of the batch
    summary = batchapi.run_batch_api(EXAMPLES, settings, out, **FAST)
    (error,) = _lines(tmp_path / "out.errors.jsonl")
    assert error["id"] == first_id and error["stage"] == "batch" and error["status_code"] == 500
    assert error["error_type"] == "ProviderError" and "HTTP 500" in error["message"]
    assert error["batch_id"] == "batch_1" and error["where"] == "item 1"
    assert sorted(r["id"] for r in _lines(out)) == sorted(s.id for s in _scenarios(EXAMPLES)[1:])
    assert (summary.drafted, summary.failed) == (N - 1, 1)


def test_a_malformed_answer_goes_to_errors_as_a_validation_failure(
        srv: FakeOpenAIServer, settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    first_id = _scenarios(EXAMPLES)[0].id
    srv.enqueue(Malformed())
    summary = batchapi.run_batch_api(EXAMPLES, settings, out, **FAST)
    (error,) = _lines(tmp_path / "out.errors.jsonl")
    assert error["id"] == first_id and error["stage"] == "batch"
    assert error["error_type"] == "DraftRetryError" and "not return a valid draft" in error["message"]
    assert first_id not in {r["id"] for r in _lines(out)}
    assert (summary.drafted, summary.failed) == (N - 1, 1)


def test_function_calling_answers_are_read_from_the_tool_call(
        srv: FakeOpenAIServer, settings: Settings, tmp_path: Path) -> None:
    fc = settings.model_copy(update={"method": "function_calling"})
    out = tmp_path / "out.jsonl"
    summary = batchapi.run_batch_api(EXAMPLES, fc, out, **FAST)
    assert summary.drafted == N and all(r["meta"]["guard"]["passed"] for r in _lines(out))


def test_an_invalid_input_item_goes_to_errors_with_its_field_and_the_others_run(
        srv: FakeOpenAIServer, settings: Settings, tmp_path: Path, examples: list[dict[str, Any]]) -> None:
    bad = dict(examples[2])
    del bad["situation"]
    source = _write_input(tmp_path / "in.json", [examples[0], examples[1], bad])
    out = tmp_path / "out.jsonl"
    state = batchapi.submit(source, settings, out)
    (error,) = _lines(tmp_path / "out.errors.jsonl")  # written at submit, before any batch finishes
    assert error["field"] == "situation" and error["where"] == "item 3" and error["index"] == 2
    assert error["stage"] == "validation" and error["id"] == bad["id"]
    assert state.counts == {"submitted": 2, "skipped": 0, "invalid": 1}
    assert list(state.jobs[0].items) == [examples[0]["id"], examples[1]["id"]]
    summary = batchapi.run_batch_api(source, settings, out, **FAST)
    assert summary.drafted == 2 and len(_lines(tmp_path / "out.errors.jsonl")) == 1


def test_an_edited_scenario_is_drafted_again_and_replaces_its_old_line(
        srv: FakeOpenAIServer, settings: Settings, tmp_path: Path, examples: list[dict[str, Any]]) -> None:
    source = _write_input(tmp_path / "in.json", examples[:2])
    out = tmp_path / "out.jsonl"
    batchapi.run_batch_api(source, settings, out, **FAST)
    examples[1]["situation"] += " The client asked for a written summary."
    _write_input(source, examples[:2])
    summary = batchapi.run_batch_api(source, settings, out, **FAST)
    assert (summary.drafted, summary.skipped) == (1, 1)
    records = _lines(out)
    assert [r["id"] for r in records] == [examples[0]["id"], examples[1]["id"]]
    assert records[1]["meta"]["scenario_hash"] == _scenarios(source)[1].content_hash()[:16]


def test_a_cancelled_batch_sends_its_items_to_errors_with_a_clear_message(
        srv: FakeOpenAIServer, settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    state = batchapi.submit(EXAMPLES, settings, out)
    batchapi.cancel(state.path, settings=settings)
    summary = batchapi.collect(state.path, settings=settings)
    errors = _lines(tmp_path / "out.errors.jsonl")
    assert summary.failed == N and _lines(out) == []
    assert all("cancelled" in e["message"] and "run again" in e["message"] for e in errors)
    # the run is finished, so running again submits the items anew
    again = batchapi.run_batch_api(EXAMPLES, settings, out, **FAST)
    assert again.drafted == N and srv.batch_creates == 2


def test_a_failed_batch_sends_its_items_to_errors_with_the_reason(tmp_path: Path) -> None:
    class FailingServer(FakeOpenAIServer):
        def _complete_batch(self, batch: dict) -> None:
            batch.update(status="failed", failed_at=1, errors={"object": "list", "data": [
                {"code": "token_limit_exceeded", "message": "Enqueued token limit reached.", "param": None,
                 "line": None}]})

    with FailingServer(responder=offline_responder) as failing:
        s = Settings.resolve(backend="openai", base_url=failing.base_url, api_key=KEY, model="fake-model")
        out = tmp_path / "out.jsonl"
        summary = batchapi.run_batch_api(EXAMPLES, s, out, **FAST)
    errors = _lines(tmp_path / "out.errors.jsonl")
    assert summary.failed == N and summary.drafted == 0 and _lines(out) == []
    assert sorted(e["id"] for e in errors) == sorted(x.id for x in _scenarios(EXAMPLES))
    assert all("batch_1 failed" in e["message"] and "token_limit_exceeded" in e["message"] for e in errors)
    assert batchapi.status(tmp_path / "out.batch.json", refresh=False)["jobs"][0]["errors"] == [
        "token_limit_exceeded: Enqueued token limit reached."]


def test_status_reports_jobs_ids_and_request_counts(
        srv: FakeOpenAIServer, settings: Settings, tmp_path: Path) -> None:
    state = batchapi.submit(EXAMPLES, settings, tmp_path / "out.jsonl", max_requests=6)
    report = batchapi.status(state.path, settings=settings)
    assert [job["batch_id"] for job in report["jobs"]] == ["batch_1", "batch_2"]
    assert [job["status"] for job in report["jobs"]] == ["in_progress", "in_progress"]
    assert report["submitted"] and not report["done"] and report["totals"]["requests"] == N
    batchapi.poll(state.path, settings=settings, interval=0.01, max_interval=0.05)
    report = batchapi.status(state.path, settings=settings)
    assert report["done"] and not report["finished"]
    assert [job["request_counts"] for job in report["jobs"]] == [
        {"total": 6, "completed": 6, "failed": 0}, {"total": N - 6, "completed": N - 6, "failed": 0}]


@pytest.mark.slow
def test_poll_gives_up_at_its_timeout_and_collect_finishes_later(tmp_path: Path) -> None:
    with FakeOpenAIServer(responder=offline_responder, batch_polls_to_complete=50) as slow:
        s = Settings.resolve(backend="openai", base_url=slow.base_url, api_key=KEY, model="fake-model")
        out = tmp_path / "out.jsonl"
        summary = batchapi.run_batch_api(EXAMPLES, s, out, poll_interval=0.01, poll_max_interval=0.02,
                                         timeout=0.2)
        assert summary.drafted == 0 and summary.stopped and "pmcomm batch collect" in summary.stopped
        state = batchapi.poll(tmp_path / "out.batch.json", settings=s, interval=0.01, max_interval=0.02)
        assert state.done
        assert batchapi.collect(state.path, settings=s).drafted == N and len(_lines(out)) == N


def test_401_on_upload_raises_authentication_error_at_once(tmp_path: Path) -> None:
    class RejectingServer(FakeOpenAIServer):
        def _create_file(self, req: Any) -> Any:
            return _json_response(401, _error_body(401, "Incorrect API key provided."))

    with RejectingServer(responder=offline_responder) as bad:
        s = Settings.resolve(backend="openai", base_url=bad.base_url, api_key=KEY, model="fake-model",
                             max_retries=3, backoff_max=0.2)
        with pytest.raises(AuthenticationError) as info:
            batchapi.run_batch_api(EXAMPLES, s, tmp_path / "out.jsonl", **FAST)
        assert KEY not in str(info.value)
        uploads = [r for r in bad.requests.snapshot() if r.method == "POST" and r.path == "/v1/files"]
        assert len(uploads) == 1 and bad.batch_creates == 0


def test_no_file_written_by_a_run_holds_the_api_key(
        srv: FakeOpenAIServer, settings: Settings, tmp_path: Path) -> None:
    state = batchapi.submit(EXAMPLES, settings, tmp_path / "out.jsonl", max_requests=4)
    raw = Path(state.path).read_text(encoding="utf-8")
    assert KEY not in raw and "api_key" not in raw
    saved = json.loads(raw)
    assert saved["version"] == 1 and saved["settings"]["model"] == "fake-model"
    assert all(job["batch_id"] and job["input_file_id"] and job["items"] for job in saved["jobs"])
    batchapi.run_batch_api(EXAMPLES, settings, tmp_path / "out.jsonl", max_requests=4, **FAST)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_a_missing_key_without_a_base_url_fails_before_anything_is_written(tmp_path: Path) -> None:
    from pmcomm_llm.core.errors import ConfigError

    s = Settings.resolve(backend="openai", model="fake-model")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        batchapi.submit(EXAMPLES, s, tmp_path / "out.jsonl")
    assert list(tmp_path.iterdir()) == []
