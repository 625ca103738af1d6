"""Save and load models without executing arbitrary code.

skops stores the object graph as data and, on load, refuses any type that is
not on an explicit allow-list: a tampered file cannot run code the way a
pickle can. The allow-list is the set of types scikit-learn pipelines contain,
plus the `trusted_types` a model's config declares (recorded in its signature).
"""

import io
import json
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import skops.io as sio

from ..config.errors import UserError
from ..core.features import CUSTOM_TYPES
from .io import write_bytes

# Types skops does not trust by default but scikit-learn pipelines legitimately contain.
ALLOWED_TYPES: tuple[str, ...] = (
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    *CUSTOM_TYPES,  # the date and text steps of core/features.py
)


ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _normalise_zip(data: bytes) -> bytes:
    """Make skops output deterministic: equal models must give equal bytes (and md5s).

    skops names nodes and array files by ``id(obj)`` (a memory address) and
    stamps zip entries with the current time. We renumber the ids in order of
    first appearance in ``schema.json`` and fix the timestamps.

    skops also gives one id to every reference to the same object, so the bytes
    depended on which equal scalars happened to be one object: the two imputers'
    ``missing_values=nan`` share ``np.nan`` in a freshly fitted Pipeline but not in
    one that went through pickle. Equal immutable scalars (skops' JSON nodes)
    therefore get one id, whatever their identity was.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        schema = src.read("schema.json").decode("utf-8")
        same: dict[str, str] = {}  # id of a JSON scalar node -> id of the first equal one
        first: dict[tuple[Any, ...], str] = {}
        stack: list[Any] = [json.loads(schema)]
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(reversed(node))
            elif isinstance(node, dict):
                if node.get("is_json") is True and "__id__" in node:
                    key = (node.get("__class__"), node.get("__module__"), node.get("content"))
                    same[str(node["__id__"])] = first.setdefault(key, str(node["__id__"]))
                stack.extend(reversed(list(node.values())))
        order: dict[str, str] = {}
        for num in re.findall(r'"__id__": (\d+)', schema):
            order.setdefault(same.get(num, num), str(len(order) + 1))
        for alias, canonical in same.items():
            order[alias] = order[canonical]
        schema = re.sub(r'"__id__": (\d+)', lambda m: f'"__id__": {order[m.group(1)]}', schema)
        schema = re.sub(r'"(\d+)\.npy"', lambda m: f'"{order.get(m.group(1), m.group(1))}.npy"', schema)
        entries = {"schema.json": schema.encode("utf-8")}
        for info in src.infolist():
            if info.filename.endswith(".npy"):
                stem = info.filename.removesuffix(".npy")
                entries[f"{order.get(stem, stem)}.npy"] = src.read(info.filename)
        for info in src.infolist():
            if info.filename != "schema.json" and not info.filename.endswith(".npy"):
                entries[info.filename] = src.read(info.filename)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as dst:
        for name in sorted(entries):
            dst.writestr(zipfile.ZipInfo(name, date_time=ZIP_EPOCH), entries[name])
    return out.getvalue()


def model_bytes(model: Any) -> bytes:
    return _normalise_zip(sio.dumps(model))


def refused_types(untrusted: Iterable[str], trusted: Iterable[str] = ()) -> list[str]:
    """The types of a skops file outside the default, our allow-list and ``trusted``."""
    return sorted(set(untrusted) - set(ALLOWED_TYPES) - set(trusted))


def save_model(model: Any, dest: str | Path, trusted: Iterable[str] = ()) -> None:
    """Write the model, refusing one that could not be loaded back with ``trusted`` types."""
    data = model_bytes(model)
    refused = refused_types(sio.get_untrusted_types(data=data), trusted)
    if refused:
        raise UserError(
            f"model.trusted_types: the fitted model holds type(s) skops does not trust: {', '.join(refused)} "
            "(review them, then list them under trusted_types in conf/model/)"
        )
    write_bytes(dest, data)


def load_model(path: str | Path, trusted: Iterable[str] = ()) -> Any:
    """Load a skops file, refusing any type outside the default, our allow-list and ``trusted``."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: model file not found")
    data = path.read_bytes()
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as err:
        raise UserError(f"{path}: not a readable skops model ({type(err).__name__})") from None
    refused = refused_types(untrusted, trusted)
    if refused:
        raise UserError(f"{path}: refusing to load untrusted type(s) {', '.join(refused[:3])}")
    return sio.loads(data, trusted=list(untrusted))
