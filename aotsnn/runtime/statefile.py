"""Saved states: `save_state` / `load_state` of every session (host and C bundle), one code path.

A state file is an .npz of the state leaves plus `__model__`, the artifact's build key (its
`cache_key`, else the model name), so a state is loaded only into the artifact that wrote it.
It is written atomically (aotsnn.runtime.format.write_atomic) and read back bit for bit;
NaN/Inf are stored as they are. numpy + stdlib only.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping

import numpy as np

from aotsnn.runtime.format import ArtifactError, arrays_from_file, write_atomic

MODEL_KEY = "__model__"


class StateFiles:
    """`save_state` and `load_state` for a session that also mixes in LayoutChecks and sets
    `artifact` (its `manifest`) and `name`."""

    def _state_key(self) -> str:
        return str(self.artifact.manifest.get("cache_key", self.name))

    def save_state(self, state: Mapping[str, np.ndarray], path: str | Path) -> None:
        """Write `state` atomically (temp file + rename); a crash mid-save keeps the old file."""
        self._check_tree(state, "state", "state to save")
        buffer = io.BytesIO()
        np.savez(buffer, **{MODEL_KEY: np.array(self._state_key())}, **{n: state[n] for n, _ in self.layout["state"]})
        write_atomic(Path(path), buffer.getvalue())

    def load_state(self, path: str | Path) -> dict[str, np.ndarray]:
        """Read a state written by `save_state` for this artifact; bit-exact."""
        arrays = arrays_from_file(Path(path))
        key = arrays.pop(MODEL_KEY, None)
        if key is None or str(key) != self._state_key():
            raise ArtifactError(f"{path} is not a saved state of this artifact ('{self.name}').")
        self._check_tree(arrays, "state", f"state file {path}", ArtifactError)
        return arrays
