import json
import subprocess
import sys

from classifiers.base import CATEGORIES


def classify(lines: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor", "classify", *args], input=lines,
                          capture_output=True, text=True, timeout=120)


def test_each_line_gets_one_verdict_with_categories_scores_and_reasons():
    done = classify("I'll be waiting at the gates for that teacher, watch your back\n"
                    "Lovely nativity, thank you Miss Patel!\n\n")
    assert done.returncode == 0, done.stderr
    verdicts = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(verdicts) == 3  # the empty line is answered too
    threat, praise, empty = verdicts
    assert "threat" in threat["categories"] and threat["reasons"]["threat"]
    assert set(threat["scores"]) == set(CATEGORIES)
    assert "praise" in praise["categories"]
    assert empty["categories"] == []


def test_json_lines_are_read_by_their_text_field():
    done = classify('{"text": "ring me on 07700 900123", "id": 7}\n', "--jsonl")
    assert done.returncode == 0, done.stderr
    [verdict] = [json.loads(line) for line in done.stdout.splitlines()]
    assert "personal_data" in verdict["categories"]
    assert any("phone" in reason for reason in verdict["reasons"]["personal_data"])


def test_a_bad_json_line_is_named_after_answering_the_lines_before_it():
    done = classify('{"text": "hello"}\nnot json\n{"text": "again"}\n', "--jsonl")
    assert done.returncode == 1
    assert "line 2: not a JSON object with a text field" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stdout.splitlines()) == 1


def test_hostile_input_is_classified_without_error():
    hostile = "\n".join(["😀" * 25_000, "k\u200bi\u200bl\u200bl", "\u202eoof", "nul\x00byte",
                         "a" * 100_000]) + "\n"
    done = classify(hostile)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 5
