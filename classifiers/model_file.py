"""The model file: saved with skops beside a JSON sidecar, and checked before it is used.

`triage.skops` is a skops file holding plain values (strings, numbers, lists, dicts) and numpy
arrays only: the weights, the idf, and the hashing settings. It is read back without unpickling
and without any object construction: `read_payload` walks the skops schema and accepts only those
node types (arrays through `numpy.load(allow_pickle=False)`); anything else is refused as outside
the trusted list. Reading it this way also keeps scikit-learn and skops out of `hallmonitor
classify`, whose start-up they would otherwise dominate. `model_info` also asks skops itself
whether the file holds untrusted types. `triage.json` says what the file is: version, the sha256
of the model file and of every training file, the scikit-learn version that fitted it,
thresholds and evaluation figures.

Loading refuses, with a `ModelError` that says why: a missing sidecar, a model file whose hash
is not the one recorded, a file written by another major version of scikit-learn, or any type
outside the trusted list.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from os import PathLike
from pathlib import Path

from classifiers.base import UnavailableError

MODEL_DIR = Path(__file__).resolve().parent / "model"
MODEL_PATH = MODEL_DIR / "triage.skops"

# All a model file may hold: dicts with string keys, lists, JSON scalars (strings, numbers,
# booleans, null) and numpy arrays of plain dtypes.
TRUSTED_TYPES = ("builtins.dict", "builtins.list", "builtins.str", "builtins.int",
                 "builtins.float", "builtins.bool", "builtins.NoneType", "numpy.ndarray")
FORMAT = 3
# Format 2 is format 3 without the semantic stage.
READABLE_FORMATS = (2, FORMAT)


class ModelError(UnavailableError):
    """A model file is missing a part, fails its checks, or was made by an incompatible version."""


def sidecar_path(model_path: str | PathLike[str]) -> Path:
    return Path(model_path).with_suffix(".json")


def sha256_file(path: str | PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sklearn_version() -> str:
    """The installed scikit-learn's version, without importing it (classifying never needs it)."""
    try:
        return package_version("scikit-learn")
    except PackageNotFoundError:
        return "not installed"


def save_model(model, path: str | PathLike[str], metadata: dict) -> dict:
    """Write `model` (a `TriageModel`) and its sidecar; returns the sidecar's content."""
    import skops.io as sio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(model.payload(), path, compression=zipfile.ZIP_DEFLATED)
    sidecar = {
        **metadata,
        "format": FORMAT,
        "version": model.version,
        "model_file": path.name,
        "model_sha256": sha256_file(path),
        "sklearn_version": sklearn_version(),
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


class _Untrusted(Exception):
    pass


def read_payload(path: str | PathLike[str]) -> object:
    """The content of a skops file made of `TRUSTED_TYPES` only. Raises `_Untrusted` naming the
    first other type met (no object of any other type is ever made); other exceptions for a
    damaged file."""
    with zipfile.ZipFile(path) as archive:
        schema = json.loads(archive.read("schema.json"))
        return _node(schema, archive)


def _node(node: dict, archive: zipfile.ZipFile) -> object:
    loader = node.get("__loader__")
    kind = f"{node.get('__module__')}.{node.get('__class__')}"
    if loader == "JsonNode" and node.get("is_json") is True:
        value = json.loads(node["content"])
        if value is None or isinstance(value, str | int | float | bool):
            return value
    elif loader == "DictNode" and kind == "builtins.dict":
        if any((k.get("__loader__"), k.get("__module__"), k.get("__class__"))
               != ("TypeNode", "builtins", "str") for k in node["key_types"]["content"]):
            raise _Untrusted("a dict key that is not a string")
        return {str(key): _node(value, archive) for key, value in node["content"].items()}
    elif loader == "ListNode" and kind == "builtins.list":
        return [_node(item, archive) for item in node["content"]]
    elif loader == "NdArrayNode" and kind == "numpy.ndarray" and node.get("type") == "numpy":
        import numpy as np

        with archive.open(node["file"]) as handle:
            return np.load(io.BytesIO(handle.read()), allow_pickle=False)
    raise _Untrusted(kind)


def load_model(path: str | PathLike[str] = MODEL_PATH):
    """The checked `TriageModel` stored at `path`. Raises ModelError when a check fails."""
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
    written_by, installed = str(sidecar["sklearn_version"]), sklearn_version()
    if written_by.split(".")[0] != installed.split(".")[0]:
        raise ModelError(f"{path}: written by scikit-learn {written_by}, this is "
                         f"{installed}; retrain with `hallmonitor model train`")
    try:
        payload = read_payload(path)
    except _Untrusted as exc:
        raise ModelError(f"{path}: contains types outside the trusted list: {exc}") from None
    except Exception as exc:  # a corrupt zip or schema: all mean "cannot use this file"
        raise ModelError(f"{path}: not a readable model file ({type(exc).__name__}: {exc})") \
            from None
    if not isinstance(payload, dict) or payload.get("format") not in READABLE_FORMATS:
        raise ModelError(f"{path}: not a triage model of format {FORMAT}; retrain with "
                         f"`hallmonitor model train`")
    if tuple(payload.get("categories", ())) != CATEGORIES:
        raise ModelError(f"{path}: trained for categories {payload.get('categories')}, "
                         f"this version has {list(CATEGORIES)}")
    try:
        return TriageModel.from_payload(payload, version=str(sidecar["version"]))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelError(f"{path}: incomplete model ({type(exc).__name__}: {exc})") from None


_shipped = None
_shipped_lock = threading.Lock()


def load_shipped_model():
    """The model shipped in the package, loaded once per process: every school's classifier
    shares it (a trust with thirty schools needs one copy of the weights, not thirty)."""
    global _shipped
    with _shipped_lock:
        if _shipped is None:
            if not MODEL_PATH.exists():
                raise ModelError(f"the shipped model file {MODEL_PATH} is missing; reinstall "
                                 f"hallmonitor or run 'hallmonitor model train --replace'")
            _shipped = load_model(MODEL_PATH)
        return _shipped


def model_info(path: str | PathLike[str] = MODEL_PATH) -> dict:
    """What `hallmonitor model info` prints: the sidecar plus the file's size and whether it
    passes its checks (ours, and skops' own list of the untrusted types in it)."""
    path = Path(path)
    if not path.exists():
        return {"model_file": str(path), "present": False,
                "note": "no trained model shipped; the classifier runs on its rules alone"}
    info = read_sidecar(path)
    info["model_file"] = str(path)
    info["present"] = True
    info["file_size_bytes"] = path.stat().st_size
    info["installed_sklearn_version"] = sklearn_version()
    try:
        load_model(path)
        import skops.io as sio

        untrusted = sio.get_untrusted_types(file=path)
        info["checks"] = "ok" if not untrusted else \
            f"failed: skops finds untrusted types: {', '.join(untrusted)}"
    except ModelError as exc:
        info["checks"] = f"failed: {exc}"
    return info
