"""Pupil names are matched by their keyed digests: the rules never hold a name in clear."""

from __future__ import annotations

import pickle

import pytest

from classifiers import ClassifierOptions, NameHasher, PupilNames
from classifiers.rules import Rules

NAMES = ["Amelia Hart-Jones", "Zoë O'Brien", "Jack Smith", "Mary-Jane Okafor",
         "Oliver James Whitfield"]
HASHER = NameHasher("a-key-for-the-tests-only")
RULES = Rules(ClassifierOptions(pupil_names=PupilNames.hashed(NAMES, HASHER)))


def pupil_reasons(text: str, rules: Rules = RULES) -> list[str]:
    return [hit.reason for hit in rules.read(text).hits
            if hit.category == "personal_data" and "pupil" in hit.reason]


@pytest.mark.parametrize(("text", "reason"), [
    ("Is Amelia Hart-Jones ok?", "pupil name"),
    ("Is Amelia Hart-Jones in 5C ok?", "pupil name + class"),
    ("AMELIA HART JONES was upset", "pupil name"),
    ("amelia hart-jones's coat was left behind", "pupil name"),
    ("well done amelia_hart_jones", "pupil name"),
    ("Zoe O'Brien in year 5", "pupil name + class"),
    ("zoë obrien", "pupil name"),
    ("ZOE O\u2019BRIEN", "pupil name"),
    ("Am3lia Hart-J0nes", "pupil name"),
    ("Oliver James Whitfield", "pupil name"),
    ("Oliver Whitfield", "pupil name"),  # without the middle name, as people write it
    ("Jack in 4B", "pupil first name + class"),
    ("Jack 4B", "pupil first name + class"),
    ("jack from year 3 was crying", "pupil first name + class"),
    ("Jack, who is in reception", "pupil first name + class"),
    ("amelia's in 5C", "pupil first name + class"),
    ("Mary-Jane in Mrs Hill's class", "pupil first name + class"),
])
def test_a_listed_pupil_is_found_however_the_name_is_written(text, reason):
    assert pupil_reasons(text) == [reason]


@pytest.mark.parametrize("text", [
    "Amelia",  # a first name alone says nobody
    "Amelia Hart",  # not the whole surname
    "Amelia Hart-Jonesy",
    "Jones Amelia Hart",
    "Thanks Amelia, Hart-Jones the builder did a great job",  # punctuation ends a name
    "Jack in the box at 3pm",
    "Sophie Turner in 5C",  # not on the list
    "Sophie in 5C",
    "My son is in 5B",
])
def test_other_texts_are_not_taken_for_a_pupil(text):
    assert pupil_reasons(text) == []


def test_reasons_never_show_the_name():
    reasons = [hit.reason for hit in RULES.read("Amelia Hart-Jones in 5C and Jack in 4B").hits]
    assert "pupil name + class" in reasons
    assert not any(part in reason.lower() for reason in reasons
                   for part in ("amelia", "hart", "jones", "jack"))


def test_clear_names_given_to_the_options_are_kept_only_as_digests():
    options = ClassifierOptions(pupil_names=["Amelia Hart-Jones", "Jack Smith"])
    assert isinstance(options.pupil_names, PupilNames)
    held = pickle.dumps(options.pupil_names.full | options.pupil_names.first
                        | options.pupil_names.words) + repr(options).encode()
    for part in (b"amelia", b"hart", b"jones", b"jack", b"smith"):
        assert part not in held.lower()
    assert pupil_reasons("is amelia hart-jones ok", Rules(options)) == ["pupil name"]


def test_digests_depend_on_the_key():
    same = PupilNames.hashed(NAMES, NameHasher("a-key-for-the-tests-only"))
    other = PupilNames.hashed(NAMES, NameHasher("another-key"))
    assert same.full == RULES._names._names.full
    assert not (other.full & same.full)
    assert "Amelia" not in repr(same) and repr(HASHER) == "NameHasher(****)"
    rules = Rules(ClassifierOptions(pupil_names=PupilNames(
        HASHER, other.full, other.first, other.words)))
    assert pupil_reasons("Is Amelia Hart-Jones ok?", rules) == []


def test_words_of_names_are_recognised_one_by_one():
    pupils = PupilNames.hashed(NAMES, HASHER)
    assert pupils.is_name_word("Amelia") and pupils.is_name_word("jones")
    assert pupils.is_name_word("o'brien") and pupils.is_name_word("Zoë")
    assert not pupils.is_name_word("nativity") and not pupils.is_name_word("")


def test_a_batch_matches_each_text_on_its_own():
    texts = ["lovely assembly", "Is Amelia Hart-Jones ok?", "Jack in 4B", "Jack", "Smith"]
    found = [[h.reason for h in reading.hits if "pupil" in h.reason]
             for reading in RULES.read_all(texts)]
    assert found == [[], ["pupil name"], ["pupil first name + class"], [], []]


def test_a_list_without_a_header_row_is_refused_without_showing_its_first_name(tmp_path):
    from classifiers import read_pupil_names

    path = tmp_path / "pupils.csv"
    path.write_text("Amelia Hart-Jones,5C\nJack Smith,4B\n", encoding="utf-8")
    with pytest.raises(ValueError, match="first row must name the columns") as error:
        read_pupil_names(path)
    assert "amelia" not in str(error.value).lower() and "2 cells" in str(error.value)
