"""The model shipped in the package: it loads, passes its checks, and gets clear cases right."""

from __future__ import annotations

import pytest

from classifiers import CATEGORIES, ClassifierOptions, load_classifier
from classifiers.datasets import read_labelled
from classifiers.evaluation import evaluate_examples
from classifiers.model_file import (
    MODEL_PATH,
    load_shipped_model,
    model_info,
    read_sidecar,
    sha256_file,
)
from tests.classifiers.conftest import SHARED_DATA, needs_shared

pytestmark = pytest.mark.skipif(not MODEL_PATH.exists(), reason="no model file shipped yet")

CLASSIFIER = load_classifier()

# Comments of the kind a school's page gets, one category each plainly (written for these tests).
CLEAR = [
    ("threat", "I'm going to stab Mr Collins when he comes out tonight"),
    ("threat", "bring a knife into that school tomorrow and see what happens"),
    ("threat", "you lot better watch your backs, I know where the head lives"),
    # wishes, incitement, veiled and conditional threats, intimidation by routine
    ("threat", "hope someone runs that deputy head over in the car park"),
    ("threat", "someone needs to teach Mr Hale a lesson he won't forget, car park after 6"),
    ("threat", "shame if her windows got put through. Elm Road isn't it"),
    ("threat", "if my boy gets excluded again there will be consequences for that head"),
    ("threat", "Miss Grant locks up on her own on Fridays. Just saying"),
    ("safeguarding", "my friend's mum hits her with a belt and she's scared to go home"),
    # Keeping Children Safe in Education: beyond disclosures of abuse at home
    ("safeguarding", "a lad in year 10 has been sending round a nude of a girl in his class"),
    ("safeguarding", "the PE teacher keeps messaging my daughter on snapchat late at night"),
    ("safeguarding", "older lads selling weed to year 7s at the back gate every afternoon"),
    ("safeguarding", "nobody would even notice if I wasn't here anymore tbh"),
    ("safeguarding", "a man in a van keeps asking the year 5 girls to get in"),
    ("safeguarding", "my son says he wants to kill himself because of the bullying"),
    ("hateful", "too many p*kis at this school now, send them all back"),
    ("hateful", "the head is a f*ggot and shouldnt be near kids"),
    ("abusive", "Mrs Davies is a lazy useless c*nt"),
    ("abusive", "shut up you thick b1tch nobody cares what you think"),
    ("personal_data", "his number is 07700 900461 if you want to have a word"),
    ("personal_data", "Lily Evans in Year 3 took my daughter's coat"),
    ("personal_data", "email me at sarah.jones@example.com for the pictures"),
    ("disparaging", "absolute shambles at pick up again, nobody in charge, disgraceful"),
    ("disparaging", "this school has gone downhill since the new head, teachers don't care"),
    ("media", "Hi, I'm a reporter at the Evening Post, could someone call me about the closure?"),
    ("media", "We're making a documentary for Channel 4 about school dinners, who do I contact?"),
    ("absence", "Freddie won't be in today, he's been sick all night"),
    ("absence", "keeping Isla off today with a temperature, sorry"),
    ("question", "What time does the Christmas fair start on Saturday?"),
    ("question", "does anyone know if the school is open tomorrow with the snow?"),
    ("praise", "Well done to the year 6 choir, absolutely brilliant tonight!"),
    ("praise", "Huge thank you to all the staff, the nativity was lovely"),
    ("spam", "Your page will be disabled for copyright violation, verify your account here"),
    ("spam", "I made £3000 a week trading crypto, message me to learn how"),
]


@pytest.mark.parametrize(("category", "text"), CLEAR)
def test_it_flags_clear_cases(category, text):
    verdict = CLASSIFIER.predict([text])[0]
    assert category in verdict.categories, verdict.as_dict()
    assert verdict.reasons[category]


# Harmless (or only praise / question): none may be flagged as any of these.
SERIOUS = ("threat", "safeguarding", "hateful", "abusive")
HARD_NEGATIVES = [
    "Absolutely killing it at sports day, well done blue team!",
    "The kids were shooting hoops at lunch, lovely to see",
    "I'm dying to go back after half term",
    "I'm dying to go back to Scunthorpe for the next match",
    "Sick performance from the drama club tonight",
    "I could murder a cuppa after that assembly",
    "kill them lads, good luck in the final",
    "the shooting star assembly was gorgeous",
    "they attacked the reading challenge with gusto",
    "the show was the bomb!",
    "What a fantastic sports day, thank you",
    "See you all at the summer fair",
]


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_it_does_not_flag_hard_negatives_as_serious(text):
    flagged = set(CLASSIFIER.predict([text])[0].categories)
    assert not flagged & set(SERIOUS), flagged


def test_flagged_categories_carry_the_phrases_that_drove_the_model():
    verdict = CLASSIFIER.predict(
        ["absolute shambles at pick up again, nobody in charge, disgraceful"])[0]
    assert "disparaging" in verdict.categories
    assert '"absolute shambles" (model)' in verdict.reasons["disparaging"]
    # What a rule already says is not said again by the model.
    assert '"disgraceful" (model)' not in verdict.reasons["disparaging"]


def test_the_model_version_is_on_every_verdict():
    info = model_info()
    assert CLASSIFIER.version == info["version"]
    assert CLASSIFIER.predict(["hi"])[0].model_version == info["version"]


def test_the_shipped_file_passes_its_checks_and_is_small():
    info = model_info()
    assert info["checks"] == "ok"
    assert info["model_sha256"] == sha256_file(MODEL_PATH)
    assert info["file_size_bytes"] < 8_000_000
    assert set(info["thresholds"]) == set(CATEGORIES)
    assert load_shipped_model() is not None


def test_a_school_threshold_can_silence_a_category():
    quiet = load_classifier(ClassifierOptions(thresholds={"question": 1.0}))
    assert "question" not in quiet.predict(["What time does the fair start?"])[0].categories


@needs_shared
def test_the_shared_files_are_the_ones_the_model_was_trained_on():
    hashes = model_info()["data_sha256"]
    for key, digest in hashes.items():
        role, name = key.split("/", 1)
        if name == "school" or role == "heldout":
            continue  # in the package, not ../shared: their hashes are checked below
        assert sha256_file(SHARED_DATA / name / f"{role}.csv") == digest, key


def test_the_school_files_are_the_ones_the_model_was_trained_and_measured_on():
    from classifiers.datasets import HELDOUT, SCHOOL_DIR, SCHOOL_TRAIN, SCHOOL_VAL

    hashes = model_info()["data_sha256"]
    for key, name in (("train/school", SCHOOL_TRAIN), ("val/school", SCHOOL_VAL),
                      ("heldout/independent", HELDOUT)):
        assert sha256_file(SCHOOL_DIR / name) == hashes[key], key


@needs_shared
def test_it_beats_the_tfidf_baseline_on_public_offensive_tweets():
    examples = read_labelled(SHARED_DATA / "tweeteval_offensive" / "test.csv")
    report = evaluate_examples(CLASSIFIER, examples)
    assert report.macro_f1 > 0.743


def test_the_shipped_model_has_its_semantic_stage_and_runs_it():
    model = load_shipped_model()
    assert model.uses_encoder and model.uses_exemplars
    assert model.encoder == "all-MiniLM-L6-v2-int8"
    assert CLASSIFIER.encoder is not None and CLASSIFIER.degraded is None
    assert read_sidecar()["encoder"] == model.encoder
