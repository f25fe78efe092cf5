"""Evaluation reports, against a classifier whose answers are fixed."""

from __future__ import annotations

import pytest
from sklearn.metrics import f1_score

from classifiers.base import CATEGORIES, Verdict
from classifiers.datasets import read_labelled
from classifiers.evaluation import evaluate
from tests.classifiers.conftest import FIXTURES


class Scripted:
    """Flags what a table says for each text."""

    version = "scripted-1"

    def __init__(self, answers: dict[str, tuple[str, ...]]) -> None:
        self.answers = answers

    def predict(self, texts):
        return [Verdict(scores={c: 0.0 for c in CATEGORIES},
                        categories=self.answers.get(t, ()), model_version=self.version)
                for t in texts]


def test_binary_files_count_abusive_hateful_or_threat_as_offensive():
    examples = read_labelled(FIXTURES / "labelled.csv")
    answers = {"you stupid prick": ("abusive",), "i will kill you": ("threat", "question"),
               "what a twat": ("hateful",), "great game": ("abusive",),
               "see you tomorrow": ("question",)}
    report = evaluate(Scripted(answers), FIXTURES / "labelled.csv")
    truth = [bool(e.labels) for e in examples]
    flagged = [bool(set(answers.get(e.text, ())) & {"abusive", "hateful", "threat"})
               for e in examples]
    assert report.binary
    assert report.macro_f1 == pytest.approx(f1_score(truth, flagged, average="macro"))
    offensive = report.figures[0]
    assert (offensive.support, offensive.flagged, offensive.true_positives) == (5, 4, 3)


def test_category_files_give_precision_recall_and_f1_per_category():
    path = FIXTURES / "school" / "school_val.jsonl"
    answers = {"is school open tomorrow with the snow?": ("question",),
               "Archie is off sick today with a bug": ("absence", "question"),
               "see you all at the summer fair": ("praise",)}
    report = evaluate(Scripted(answers), path)
    figures = {f.category: f for f in report.figures}
    assert figures["question"].support == 2
    assert figures["question"].true_positives == 1
    assert figures["question"].precision == pytest.approx(0.5)
    assert figures["question"].recall == pytest.approx(0.5)
    assert figures["absence"].f1 == pytest.approx(1.0)
    assert figures["threat"].recall == 0.0
    assert report.confusion["absence"]["question"] == 1
    assert report.confusion["(none)"]["praise"] == 1
    assert report.confusion["threat"]["(none)"] == 2


def test_the_printed_report_has_a_row_per_category_and_the_confusion_table():
    text = evaluate(Scripted({}), FIXTURES / "school" / "school_val.jsonl").format()
    for category in ("threat", "safeguarding", "media", "spam"):
        assert category in text
    assert "confusion (rows: labelled, columns: flagged)" in text
    assert "macro-F1" in text


@pytest.mark.parametrize(("content", "message"), [
    ('{"text": "x", "labels": ["nonsense"]}\n', "unknown categories"),
    ('{"text": "x"}\n', "needs 'labels' or 'label'"),
    ("not json\n", "not JSON"),
    ('{"labels": []}\n', "needs a 'text'"),
    ("", "no labelled rows"),
])
def test_bad_labelled_files_are_rejected_with_the_line(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        evaluate(Scripted({}), path)


def test_labels_can_be_a_single_name_or_a_separated_string(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("text,labels\nhello,question;praise\nbye,spam\n")
    assert [sorted(e.labels) for e in read_labelled(path)] == [["praise", "question"], ["spam"]]


def test_false_alarms_are_harmless_or_praise_comments_flagged_with_anything_else(tmp_path):
    path = tmp_path / "calm.jsonl"
    path.write_text("\n".join([
        '{"text": "lovely show", "labels": ["praise"]}',
        '{"text": "see you at 3", "labels": []}',
        '{"text": "I am dead on my feet", "labels": []}',
        '{"text": "well done all", "labels": ["praise"]}',
        '{"text": "I know where you live", "labels": ["threat"]}',
    ]), encoding="utf-8")
    answers = {"lovely show": ("praise",), "I am dead on my feet": ("threat",),
               "well done all": ("praise", "question"), "I know where you live": ("threat",)}
    report = evaluate(Scripted(answers), path)
    assert (report.calm, report.false_alarms) == (4, 2)
    assert report.as_dict()["false_alarm_rate"] == 0.5
    assert "false alarms on harmless and praise comments: 2 of 4 (50.0%)" in report.format()


def test_the_summary_puts_each_file_on_one_line_with_urgent_recall_and_false_alarms():
    from classifiers.evaluation import summary_table

    path = FIXTURES / "school" / "school_val.jsonl"
    report = evaluate(Scripted({}), path)
    lines = summary_table([("school_val", report)]).splitlines()
    assert lines[0].split()[:3] == ["file", "texts", "macro-F1"]
    assert lines[1].split()[0] == "school_val"
    assert lines[1].split()[3] == "0.000"  # threat recall: nothing flagged
