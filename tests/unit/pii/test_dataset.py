"""Dataset pseudonymisation: consistent surrogates, shapes kept, order kept, residual re-scan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from gateway.cli import main
from guards.pii.dataset import scrub_records
from guards.pii.engine import PiiEngine

RECORDS: list[dict[str, Any]] = [
    {"messages": [
        {"role": "user", "content": "Hi, I'm Priya Raman, call me at (415) 555-0132 or priya.raman@example.com"},
        {"role": "assistant", "content": "Thanks Priya, noted your SSN 536-22-8714."},
    ]},
    {"instruction": "Summarise the ticket from Priya Raman", "input": "Reach her at priya.raman@example.com.",
     "output": "Priya Raman asked for a refund to IBAN DE89 3704 0044 0532 0130 00.", "meta": {"source": "crm"}},
    {"instruction": "Say hello", "input": "", "output": "Hello!"},
]  # fmt: skip
RAW = ("Priya", "Raman", "(415) 555-0132", "priya.raman@example.com", "536-22-8714", "DE89 3704 0044 0532 0130 00")


@pytest.fixture(scope="module")
def scrubbed(engine: PiiEngine) -> tuple[list[dict[str, Any]], Any]:
    return scrub_records(RECORDS, engine=engine, seed="dataset-1", keep_mapping=True)


def test_no_raw_value_survives_and_other_fields_are_kept(scrubbed: tuple[list[dict[str, Any]], Any]) -> None:
    out, _ = scrubbed
    dumped = json.dumps(out)
    assert not [raw for raw in RAW if raw in dumped]
    assert len(out) == len(RECORDS) and out[1]["meta"] == {"source": "crm"} and out[2] == RECORDS[2]


def test_the_same_value_gets_the_same_surrogate_across_records_and_formats(
    scrubbed: tuple[list[dict[str, Any]], Any],
) -> None:
    out, report = scrubbed
    full = report.mapping["PERSON"]["Priya Raman"]
    email = report.mapping["EMAIL_ADDRESS"]["priya.raman@example.com"]
    assert full in out[0]["messages"][0]["content"] and full in out[1]["instruction"] and full in out[1]["output"]
    assert email in out[0]["messages"][0]["content"] and email in out[1]["input"]
    # a full name stays a full name; the given name alone maps to the same given name
    assert len(full.split()) == 2 and report.mapping["PERSON"]["Priya"] == full.split()[0]
    assert f"Thanks {full.split()[0]}," in out[0]["messages"][1]["content"]


def test_the_seed_decides_the_pseudonyms(engine: PiiEngine, scrubbed: tuple[list[dict[str, Any]], Any]) -> None:
    again, _ = scrub_records(RECORDS, engine=engine, seed="dataset-1")
    other, _ = scrub_records(RECORDS, engine=engine, seed="dataset-2")
    assert again == scrubbed[0] and other != scrubbed[0]


def test_the_report_counts_types_and_samples_hold_no_raw_value(scrubbed: tuple[list[dict[str, Any]], Any]) -> None:
    _, report = scrubbed
    summary = report.summary()
    assert summary["counts"]["PERSON"] >= 4 and summary["counts"]["US_SSN"] == 1
    assert summary["residual_texts"] == 0
    assert not [raw for raw in RAW if raw in json.dumps(summary)]


def test_a_record_of_neither_format_is_refused(engine: PiiEngine) -> None:
    with pytest.raises(ValueError, match="neither a chat record"):
        scrub_records([{"text": "x"}], engine=engine, seed="s")


def test_low_scoring_candidates_left_in_the_output_count_as_residual(patterns_engine: PiiEngine) -> None:
    # A bare 12-digit Aadhaar-shaped number scores 0.4: under the scrub threshold, over the re-scan's.
    _, report = scrub_records([{"instruction": "ref 2345 6789 0123", "output": "ok"}], engine=patterns_engine, seed="s")
    assert report.residual_texts == 1 and report.residual_counts == {"NATIONAL_ID": 1}


def _write(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_the_command_writes_scrubbed_lines_a_report_and_an_encrypted_mapping(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    source, target, mapping = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "map.bin"
    _write(source, RECORDS)
    env = {"GATEWAY_DATA_DIR": str(tmp_path / "var"), "GATEWAY_PII_MAPPING_KEY": key, "GATEWAY_PII_NER": "false"}
    result = CliRunner().invoke(
        main, ["dataset", "scrub", str(source), str(target), "--mapping", str(mapping), "--workers", "1"], env=env
    )
    assert result.exit_code == 0, result.output
    lines = target.read_text().splitlines()
    assert len(lines) == 3 and not [raw for raw in RAW[2:] if raw in target.read_text()]
    report = json.loads((tmp_path / "out.jsonl.report.json").read_text())
    assert report["records"] == 3 and report["counts"]["EMAIL_ADDRESS"] == 2
    assert b"priya" not in mapping.read_bytes()
    assert "priya.raman@example.com" in json.loads(Fernet(key.encode()).decrypt(mapping.read_bytes()))["EMAIL_ADDRESS"]


def test_the_command_fails_above_the_residual_rate_and_writes_no_output(tmp_path: Path) -> None:
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write(source, [{"instruction": f"ref 2345 6789 012{i}", "output": "ok"} for i in range(4)])
    env = {"GATEWAY_DATA_DIR": str(tmp_path / "var"), "GATEWAY_PII_NER": "false"}
    result = CliRunner().invoke(main, ["dataset", "scrub", str(source), str(target), "--workers", "1"], env=env)
    assert result.exit_code != 0 and "residual PII" in result.output
    assert not target.exists()


def test_a_mapping_without_a_key_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    _write(source, RECORDS)
    env = {"GATEWAY_DATA_DIR": str(tmp_path / "var"), "GATEWAY_PII_MAPPING_KEY": ""}
    args = ["dataset", "scrub", str(source), str(tmp_path / "o.jsonl"), "--mapping", str(tmp_path / "m")]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 2 and "GATEWAY_PII_MAPPING_KEY" in result.output
