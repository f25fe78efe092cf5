"""Throughput of `hallmonitor classify`: 20,000 lines, model loading included, on one core.

Writes the lines to a file (or uses --input), then runs the real command in a fresh process
pinned to one CPU, `hallmonitor classify < lines > /dev/null`, and prints texts per second, the
child's peak RSS and the model file's size. --in-process runs the same path (load, predict in
batches of 512, serialise each verdict) inside this process instead.

Lines come from the school examples in classifiers/data and, when ../shared/data is present, the
public sets' texts (distinct texts, no repeats), shuffled with a fixed seed.

    python benchmarks/classify.py [--lines 20000] [--input FILE] [--in-process] [--runs 3]

With --runs N the command runs N times and the median is printed too: on a shared machine one
run can be a good deal slower than the next.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from classifiers.datasets import PUBLIC_SETS, SCHOOL_DIR, shared_data_dir  # noqa: E402
from classifiers.model_file import MODEL_PATH  # noqa: E402

BATCH = 512  # as `hallmonitor classify` batches its input

# Used only when neither the school examples nor ../shared are there.
FALLBACK = [
    "Lovely photos from sports day, well done everyone",
    "what time does the christmas fair start on saturday?",
    "you are all useless idiots running this school",
    "Oscar won't be in today, he has a temperature",
    "I'm a reporter at the Evening Post, can the head comment?",
    "ring me on 07700 900123 about the lost coat",
]


def gather(lines: int, seed: int) -> list[str]:
    texts: list[str] = []
    for name in ("school_train.jsonl", "school_val.jsonl"):
        path = SCHOOL_DIR / name
        if path.exists():
            texts += [json.loads(line)["text"] for line in path.open(encoding="utf-8")
                      if line.strip()]
    data = shared_data_dir()
    for name in PUBLIC_SETS:
        for split in ("test", "val", "train"):
            path = data / name / f"{split}.csv"
            if path.exists():
                with path.open(encoding="utf-8", newline="") as handle:
                    texts += [row["text"] for row in csv.DictReader(handle)]
    texts = list(dict.fromkeys(" ".join(t.split()) for t in texts if t.strip()))
    rng = random.Random(seed)
    rng.shuffle(texts)
    if not texts:
        texts = FALLBACK
    while len(texts) < lines:  # only without ../shared: vary the few texts there are
        texts.append(f"{rng.choice(texts)} {rng.choice(texts)}")
    return texts[:lines]


def run_cli(path: Path, cpu: int) -> tuple[float, float]:
    command = [sys.executable, "-c", "from monitor.cli import main; main(['classify'])"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    with path.open("rb") as stdin, open(os.devnull, "wb") as stdout:
        subprocess.run(command, stdin=stdin, stdout=stdout, check=True, cwd=ROOT, env=env,
                       preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return elapsed, peak_mb


def run_in_process(texts: list[str]) -> tuple[float, float]:
    started = time.perf_counter()
    from classifiers import load_classifier

    classifier = load_classifier()
    with open(os.devnull, "w") as out:
        for start in range(0, len(texts), BATCH):
            for verdict in classifier.predict(texts[start:start + BATCH]):
                out.write(json.dumps(verdict.as_dict(), ensure_ascii=False) + "\n")
    elapsed = time.perf_counter() - started
    return elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--input", type=Path, help="one text per line (default: generated)")
    parser.add_argument("--in-process", action="store_true",
                        help="classify in this process instead of running the CLI")
    parser.add_argument("--cpu", type=int, default=0, help="the one CPU to run on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=1, help="run it this many times")
    args = parser.parse_args()

    if args.input:
        texts = args.input.read_text(encoding="utf-8").splitlines()[:args.lines]
    else:
        texts = gather(args.lines, args.seed)
    if args.in_process:
        os.sched_setaffinity(0, {args.cpu})
        runs = [run_in_process(texts) for _ in range(max(1, args.runs))]
        how = "in process"
    else:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "lines.txt"
            path.write_text("\n".join(texts) + "\n", encoding="utf-8")
            runs = [run_cli(path, args.cpu) for _ in range(max(1, args.runs))]
        how = "hallmonitor classify"
    elapsed = statistics.median(e for e, _ in runs)
    peak_mb = max(m for _, m in runs)
    size = MODEL_PATH.stat().st_size if MODEL_PATH.exists() else 0
    print(f"{how}: {len(texts)} texts in {elapsed:.2f} s (model loading included) on CPU "
          f"{args.cpu}")
    if len(runs) > 1:
        print("runs (texts/s): " + ", ".join(f"{len(texts) / e:,.0f}" for e, _ in runs))
    print(f"texts/s:        {len(texts) / elapsed:,.0f}" + (" (median)" if len(runs) > 1 else ""))
    print(f"peak RSS:       {peak_mb:,.0f} MB")
    print(f"model file:     {size / 1e6:.2f} MB ({MODEL_PATH.name})")
    print(f"mean length:    {sum(map(len, texts)) / max(1, len(texts)):.0f} characters")


if __name__ == "__main__":
    main()
