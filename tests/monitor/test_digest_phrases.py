"""Phrases that stood out this week against the weeks before (weighted log-odds, Monroe et al.)."""

from __future__ import annotations

from collections import Counter

from monitor.digest import phrases

COMMON = "Thank you for a lovely afternoon, the children were wonderful"
NAMES = phrases.name_words(["Ava Thompson", "Priya Patel", "Oakfield Primary School"])


def weeks(this_week: list[str], earlier: list[str]) -> list[phrases.Phrase]:
    return phrases.stand_out(phrases.count(this_week, NAMES), phrases.count(earlier, NAMES))


def test_a_phrase_said_in_every_week_does_not_stand_out_and_a_new_one_does():
    earlier = [COMMON] * 40
    this_week = [COMMON] * 10 + ["The sports day medals were great"] * 4
    found = [p.text for p in weeks(this_week, earlier)]
    assert "sports day" in found
    assert not {"lovely", "afternoon", "children", "wonderful", "thank",
                "lovely afternoon"} & set(found)


def test_a_phrase_said_more_often_than_usual_stands_out_even_if_said_before():
    earlier = [COMMON] * 36 + ["The car park is a nightmare"] * 2
    this_week = [COMMON] * 9 + ["The car park is a nightmare"] * 8
    assert [p.text for p in weeks(this_week, earlier)][0] in ("car park", "nightmare")


def test_stop_words_and_names_never_appear():
    # Names and stop words are in every text of the week and none before: they would top it.
    this_week = [f"Ava Thompson and Miss Patel were the best at Oakfield {n}" for n in range(6)]
    earlier = ["Nothing much happened"] * 10
    found = weeks(this_week, earlier)
    words = {word for p in found for word in p.text.split()}
    assert words, "the rest of the sentence still stands out"
    assert not words & (NAMES - {"primary", "school"})
    assert not words & phrases.STOP_WORDS
    assert not any(word.isdigit() for word in words)


def test_a_bigram_is_shown_rather_than_its_own_words():
    found = [p.text for p in weeks(["Loved the nativity play"] * 5, [COMMON] * 20)]
    assert "nativity play" in found
    assert "nativity" not in found and "play" not in found


def test_a_phrase_said_fewer_than_the_minimum_times_is_not_shown():
    found = [p.text for p in weeks(["Loved the nativity play"] * 2, [COMMON] * 20)]
    assert found == []


def test_one_comment_repeating_a_word_counts_once():
    assert phrases.count(["great great great great"])["great"] == 1


def test_bigrams_do_not_join_words_across_a_removed_word():
    found = phrases.phrases_of("car and park", frozenset())
    assert "car park" not in found and {"car", "park"} <= found


def test_links_handles_and_possessives_are_not_phrases():
    found = phrases.phrases_of("@OakfieldPS the school's fair https://t.co/abc #fun", frozenset())
    assert found == {"school", "fair", "school fair"}


def test_contains_matches_whole_words_only():
    assert phrases.contains("Loved the Nativity Play!", "nativity play")
    assert not phrases.contains("this is fine", "hi")


def test_nothing_to_compare_gives_nothing():
    assert phrases.stand_out(Counter(), Counter()) == []
