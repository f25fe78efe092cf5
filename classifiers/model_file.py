"""The model file: saved with skops beside a JSON sidecar, and checked before it is used.

`triage.skops` holds the model's arrays and its two scikit-learn feature hashers; skops reads it
back without unpickling, and only the types named in `TRUSTED_TYPES` beyond skops' own safe
defaults. `triage.json` says what the file is: version, the sha256 of the model file and of every
training file, the scikit-learn version that wrote it, thresholds and evaluation figures.

Loading refuses, with a `ModelError` that says why: a missing sidecar, a model file whose hash
is not the one recorded, a file written by another major version of scikit-learn, or any type
outside the trusted list.
"""

from __future__ import annotations

import hashlib
import json
from os import PathLike
from pathlib import Path

import sklearn

MODEL_DIR = Path(__file__).resolve().parent / "model"
MODEL_PATH = MODEL_DIR / "triage.skops"

# Beyond skops' defaults (builtins, numpy arrays and dtypes, scikit-learn estimators): the sparse
# weight matrices.
TRUSTED_TYPES = ("scipy.sparse._csr.csr_matrix",)
FORMAT = 1


class ModelError(Exception):
    """A model file is missing a part, fails its checks, or was made by an incompatible version."""


def sidecar_path(model_path: str | PathLike[str]) -> Path:
    return Path(model_path).with_suffix(".json")


def sha256_file(path: str | PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(model, path: str | PathLike[str], metadata: dict) -> dict:
    """Write `model` (a `TriageModel`) and its sidecar; returns the sidecar's content."""
    import skops.io as sio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(model.payload(), path, compression=8)  # zipfile.ZIP_DEFLATED
    sidecar = {
        **metadata,
        "format": FORMAT,
        "version": model.version,
        "model_file": path.name,
        "model_sha256": sha256_file(path),
        "sklearn_version": sklearn.__version__,
        "thresholds": dict(model.thresholds),
    }
    sidecar_path(path).write_text(json.dumps(sidecar, indent=2, sort_keys=False) + "\n",
                                  encoding="utf-8")
    return sidecar


def read_sidecar(path: str | PathLike[str] = MODEL_PATH) -> dict:
    side = sidecar_path(path)
    try:
        sidecar = json.loads(side.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{side}: missing; a model file is only used with its sidecar") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{side}: unreadable ({exc})") from None
    if not isinstance(sidecar, dict) or not {"version", "model_sha256",
                                             "sklearn_version"} <= set(sidecar):
        raise ModelError(f"{side}: not a model sidecar (needs version, model_sha256, "
                         f"sklearn_version)")
    return sidecar


def load_model(path: str | PathLike[str] = MODEL_PATH):
    """The checked `TriageModel` stored at `path`. Raises ModelError when a check fails."""
    import skops.io as sio

    from classifiers.base import CATEGORIES
    from classifiers.model import TriageModel

    path = Path(path)
    sidecar = read_sidecar(path)
    try:
        actual = sha256_file(path)
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model file ({exc.strerror})") from None
    if actual != sidecar["model_sha256"]:
        raise ModelError(f"{path}: sha256 {actual[:12]}… does not match the sidecar's "
                         f"{str(sidecar['model_sha256'])[:12]}…; the file was changed or damaged")
    written_by = str(sidecar["sklearn_version"])
    if written_by.split(".")[0] != sklearn.__version__.split(".")[0]:
        raise ModelError(f"{path}: written by scikit-learn {written_by}, this is "
                         f"{sklearn.__version__}; retrain with `hallmonitor model train`")
    try:
        untrusted = sorted(set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
        if untrusted:
            raise ModelError(f"{path}: contains types outside the trusted list: "
                             f"{', '.join(untrusted)}")
        payload = sio.load(path, trusted=list(TRUSTED_TYPES))
    except ModelError:
        raise
    except Exception as exc:  # a corrupt zip or schema: all mean "cannot use this file"
        raise ModelError(f"{path}: not a readable model file ({type(exc).__name__}: {exc})") \
            from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelError(f"{path}: not a triage model of format {FORMAT}")
    if tuple(payload.get("categories", ())) != CATEGORIES:
        raise ModelError(f"{path}: trained for categories {payload.get('categories')}, "
                         f"this version has {list(CATEGORIES)}")
    try:
        return TriageModel.from_payload(payload, version=str(sidecar["version"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: incomplete model ({type(exc).__name__}: {exc})") from None


def load_shipped_model():
    """The model shipped in the package, or None before one has been trained."""
    if not MODEL_PATH.exists():
        return None
    return load_model(MODEL_PATH)


def model_info(path: str | PathLike[str] = MODEL_PATH) -> dict:
    """What `hallmonitor model info` prints: the sidecar plus the file's size and whether it
    passes its checks."""
    path = Path(path)
    if not path.exists():
        return {"model_file": str(path), "present": False,
                "note": "no trained model shipped; the classifier runs on its rules alone"}
    info = read_sidecar(path)
    info["model_file"] = str(path)
    info["present"] = True
    info["file_size_bytes"] = path.stat().st_size
    info["installed_sklearn_version"] = sklearn.__version__
    try:
        load_model(path)
        info["checks"] = "ok"
    except ModelError as exc:
        info["checks"] = f"failed: {exc}"
    return info
