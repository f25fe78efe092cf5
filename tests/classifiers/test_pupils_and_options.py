"""The pupil-name CSV reader and the school's options."""

from __future__ import annotations

import pytest

from classifiers import ClassifierOptions, read_pupil_names

GOOD_FILES = [
    ("name\nAmelia Jones\nZoë O'Brien\n", ["Amelia Jones", "Zoë O'Brien"]),
    ("\ufeffFull Name,Class\nAmelia Jones,5B\n\n  Jack  Smith ,6A\n",
     ["Amelia Jones", "Jack Smith"]),
    ("Forename,Surname,Year\nAmelia,Jones,5\nJack,Smith,6\n", ["Amelia Jones", "Jack Smith"]),
    ("UPN,Legal Surname,Legal Forename\nA1,Jones,Amelia\n", ["Amelia Jones"]),
    ("name\nAmelia Jones\nAmelia Jones\n", ["Amelia Jones"]),
]


@pytest.mark.parametrize(("content", "expected"), GOOD_FILES)
def test_it_reads_the_names_from_common_csv_layouts(tmp_path, content, expected):
    path = tmp_path / "pupils.csv"
    path.write_text(content, encoding="utf-8")
    assert read_pupil_names(path) == expected


def test_it_reads_a_windows_encoded_export(tmp_path):
    path = tmp_path / "pupils.csv"
    path.write_bytes("name\nZoë Brontë\n".encode("cp1252"))
    assert read_pupil_names(path) == ["Zoë Brontë"]


BAD_FILES = [
    (b"", "empty"),
    (b"\n\n", "empty"),
    (b"Amelia Jones\nJack Smith\n", "first row must name the columns"),
    (b"first_name;last_name\nAmelia;Jones\n", "first row must name the columns"),
    (b"name\n\n", "no names"),
    (b"name\nAm\x00elia\n", "not a text file"),
]


@pytest.mark.parametrize(("content", "message"), BAD_FILES)
def test_it_rejects_a_bad_file_with_a_clear_message(tmp_path, content, message):
    path = tmp_path / "pupils.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        read_pupil_names(path)
    assert str(path) in str(error.value)


def test_it_reports_a_missing_file_as_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        read_pupil_names(tmp_path / "missing.csv")


BAD_OPTIONS = [
    ({"thresholds": {"nonsense": 0.5}}, "unknown category 'nonsense'"),
    ({"thresholds": {"threat": 1.5}}, "from 0 to 1"),
    ({"thresholds": {"threat": float("nan")}}, "from 0 to 1"),
    ({"thresholds": {"threat": "high"}}, "from 0 to 1"),
    ({"keywords": {"abuse": ["x"]}}, "unknown category 'abuse'"),
    ({"keywords": {"abusive": "wazzock"}}, "list of words"),
    ({"allowlist": "Scunthorpe"}, "allowlist must be a list"),
    ({"pupil_names": [1, 2]}, "pupil_names must be a list"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_OPTIONS)
def test_options_reject_settings_that_cannot_work(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ClassifierOptions(**kwargs)
