"""The manifest's schema: every field the runtime reads, with its type and range. numpy-free.

A manifest that parses as JSON but has a field of the wrong type or out of range (written by
another tool, edited by hand, or an older aotsnn) is refused here with an ArtifactError naming
the field, instead of failing later with a KeyError or a crash inside the library:

    check_manifest(manifest, "net.aot/manifest.json")
    # ArtifactError: net.aot/manifest.json: `layout.state[2].shape` must be a list of positive
    #                integers, got [40, -1].
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable, Mapping

from aotsnn.runtime.format import INTEGER_DTYPES, ArtifactError

PRECISIONS = ("float32", "float16", "bfloat16", "float64")
GROUPS = ("params", "state", "inputs", "outputs")
INPUT_KINDS = ("spikes", "current")     # `input_kinds`, optional: absent (older artifacts) means current
FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*")   # relative, no ".."
SHA256 = re.compile(r"[0-9a-f]{64}")


class _Missing:
    def __repr__(self) -> str:
        return "nothing (the key is missing)"


MISSING = _Missing()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _require(where: str, field: str, ok: bool, expected: str, value: Any) -> None:
    if not ok:
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise ArtifactError(f"{where}: `{field}` must be {expected}, got {shown}.")


def _mapping(where: str, field: str, value: Any) -> Mapping:
    _require(where, field, isinstance(value, dict), "an object", value)
    return value


def _check_leaf(where: str, field: str, leaf: Any, precision: str, group: str = "") -> str:
    leaf = _mapping(where, field, leaf)
    name, shape = leaf.get("name", MISSING), leaf.get("shape", MISSING)
    _require(where, f"{field}.name", isinstance(name, str) and name != "", "a non-empty string", name)
    _require(where, f"{field}.shape", isinstance(shape, list) and all(_is_int(d) and d > 0 for d in shape),
             "a list of positive integers", shape)
    if group in ("state", "params"):    # integer leaves (random keys, counters, synapse indices) keep their dtype
        _require(where, f"{field}.dtype", leaf.get("dtype") in (precision, *INTEGER_DTYPES),
                 f"the precision {precision!r} or one of {INTEGER_DTYPES}", leaf.get("dtype", MISSING))
    else:
        _require(where, f"{field}.dtype", leaf.get("dtype") == precision, f"the precision {precision!r}",
                 leaf.get("dtype", MISSING))
    return name


def _check_layout(where: str, layout: Any, precision: str) -> None:
    layout = _mapping(where, "layout", layout)
    for group in GROUPS:
        leaves = layout.get(group, MISSING)
        _require(where, f"layout.{group}", isinstance(leaves, list), "a list of leaves", leaves)
        names = [_check_leaf(where, f"layout.{group}[{i}]", leaf, precision, group) for i, leaf in enumerate(leaves)]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        _require(where, f"layout.{group}", not duplicates, "a list of leaves with distinct names",
                 duplicates)


def _check_rule(where: str, field: str, rule: Any) -> None:
    rule = _mapping(where, field, rule)
    for bound in ("low", "high"):
        value = rule.get(bound, MISSING)
        _require(where, f"{field}.{bound}", value is None or _is_number(value), "a finite number or null", value)
    for flag in ("low_open", "high_open"):
        value = rule.get(flag, MISSING)
        _require(where, f"{field}.{flag}", isinstance(value, bool), "true or false", value)
    _require(where, f"{field}.integer", isinstance(rule.get("integer", False), bool), "true or false",
             rule.get("integer"))
    _require(where, f"{field}.unit", isinstance(rule.get("unit", ""), str), "a string", rule.get("unit"))


def _check_dict_of(where: str, field: str, value: Any, check: Callable[[str, Any], None]) -> None:
    for key, item in _mapping(where, field, value).items():
        check(f"{field}.{key}", item)


def check_manifest(manifest: Mapping, where: str) -> None:
    """Raise ArtifactError naming the first field of `manifest` the runtime cannot use."""
    _require(where, "model", isinstance(manifest.get("model", MISSING), str) and manifest["model"] != "",
             "a non-empty string", manifest.get("model", MISSING))
    dt = manifest.get("dt", MISSING)
    _require(where, "dt", _is_number(dt) and dt > 0, "a positive number of ms", dt)
    precision = manifest.get("precision", MISSING)
    _require(where, "precision", precision in PRECISIONS, f"one of {PRECISIONS}", precision)
    target = _mapping(where, "target", manifest.get("target", MISSING))
    _require(where, "target.name", isinstance(target.get("name", MISSING), str), "a string", target.get("name", MISSING))
    _require(where, "target.machine", target.get("machine") is None or isinstance(target["machine"], str),
             "a string or null", target.get("machine"))
    flags = target.get("cpu_flags", [])
    _require(where, "target.cpu_flags", isinstance(flags, list) and all(isinstance(f, str) for f in flags),
             "a list of strings", flags)
    _check_layout(where, manifest.get("layout", MISSING), precision)
    _check_dict_of(where, "files", manifest.get("files", MISSING), lambda field, digest: _require(
        where, field, isinstance(digest, str) and SHA256.fullmatch(digest) is not None,
        "a SHA-256 hex digest", digest))
    for name in manifest["files"]:
        _require(where, "files", FILE_NAME.fullmatch(name) is not None, "paths inside the artifact", name)
    _check_dict_of(where, "file_bytes", manifest.get("file_bytes", {}), lambda field, size: _require(
        where, field, _is_int(size) and size >= 0, "a non-negative integer", size))
    workspace = _mapping(where, "build", manifest.get("build", MISSING)).get("workspace_bytes", MISSING)
    _require(where, "build.workspace_bytes", _is_int(workspace) and workspace >= 0,
             "a non-negative integer", workspace)
    _check_dict_of(where, "param_rules", manifest.get("param_rules", {}),
                   lambda field, rule: _check_rule(where, field, rule))
    _check_dict_of(where, "topology", manifest.get("topology", {}), lambda field, digest: _require(
        where, field, isinstance(digest, str), "a string", digest))
    inputs = [leaf["name"] for leaf in manifest["layout"]["inputs"]]
    _check_dict_of(where, "input_kinds", manifest.get("input_kinds", {}), lambda field, kind: _require(
        where, field, kind in INPUT_KINDS and field.split(".", 1)[1] in inputs,
        f"one of {INPUT_KINDS} for an input leaf", kind))
    _require(where, "cache_key", isinstance(manifest.get("cache_key", ""), str), "a string",
             manifest.get("cache_key"))
    per_sample, params = manifest.get("per_sample_params", []), [leaf["name"] for leaf in manifest["layout"]["params"]]
    _require(where, "per_sample_params", isinstance(per_sample, list) and all(name in params for name in per_sample),
             "a list of parameter leaf names", per_sample)


def input_kinds(manifest: Mapping) -> dict[str, str]:
    """Input leaf name -> "spikes" or "current", as recorded at compile time (a checked manifest);
    artifacts built before kinds were recorded give "current" for every input."""
    kinds = manifest.get("input_kinds", {})
    return {leaf["name"]: kinds.get(leaf["name"], "current") for leaf in manifest["layout"]["inputs"]}
