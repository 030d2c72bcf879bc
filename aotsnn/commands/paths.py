"""Output paths of the `aotsnn` command, checked before any long work starts."""
from __future__ import annotations

from pathlib import Path

from aotsnn.commands.errors import CliError


def output_file(path: str | None, option: str) -> None:
    """Refuse a file to write whose directory is missing, or which is a directory."""
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise CliError(f"{option} {path} is a directory; give a file name.")
    if not target.parent.is_dir():
        raise CliError(f"{option} {path}: the directory {target.parent} does not exist; create it first.")


def output_dir(path: str | None, option: str) -> None:
    """Refuse a directory to write into that is a file, or whose parent is missing."""
    if path is None:
        return
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise CliError(f"{option} {path} exists and is not a directory; give a directory.")
    if not target.parent.is_dir():
        raise CliError(f"{option} {path}: the directory {target.parent} does not exist; create it first.")


def output_artifact(path: str, option: str) -> None:
    """An artifact directory may replace an older artifact or an empty directory, nothing else."""
    output_dir(path, option)
    target = Path(path)
    if target.is_dir() and any(target.iterdir()) and not (target / "manifest.json").is_file():
        raise CliError(f"{option} {path} exists and is not an aotsnn artifact; refusing to replace it "
                       f"(choose another path).")
