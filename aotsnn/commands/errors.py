"""Exit statuses and one-line error messages of the `aotsnn` command.

    0  success
    1  verification failed: a tolerance was exceeded or a spike decision differs
    2  bad usage or bad input: an unknown option, an input that cannot be used, an artifact that
       cannot be loaded, a model that cannot be compiled, a harness that fails
    3  an internal error (a bug in aotsnn or its compiler): rerun with --debug and report it

Every error is printed as one line, `aotsnn: error: <what went wrong and how to fix it>`, on
stderr; `--debug` adds the full traceback.
"""
from __future__ import annotations

import subprocess
import sys
import traceback
from typing import Callable

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_STATUS_HELP = """exit status:
  0  success
  1  verification failed: a tolerance exceeded, a spike decision differs
  2  bad usage or bad input: the one-line error says what to change
  3  internal error: rerun with --debug and report it"""


class CliError(Exception):
    """A usage or input error of the command line: printed as one line, exit status 2."""


def one_line(message: str) -> str:
    """The first non-empty line of `message`, saying when more lines were left out."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    if not lines:
        return "(no message)"
    return lines[0] if len(lines) == 1 else f"{lines[0]} (rerun with --debug for the full message)"


def print_error(message: str) -> None:
    print(f"aotsnn: error: {message}", file=sys.stderr)


def expected_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad usage or bad input (exit status 2), not a bug."""
    from aotsnn.runtime.format import ArtifactError
    from aotsnn.targets import TargetUnavailableError

    found: list[type[BaseException]] = [CliError, ArtifactError, TargetUnavailableError, ValueError, TypeError,
                                        OSError, subprocess.SubprocessError, KeyError,
                                        RuntimeError]     # the C bundle harness, TVM, a C compiler
    try:
        from aotsnn.export.errors import ExportError
        found.append(ExportError)
    except ImportError:         # a runtime-only install
        pass
    return tuple(found)


def guarded(func: Callable[[], int], *, debug: bool) -> int:
    """Run a command; turn its exceptions into one line and an exit status."""
    try:
        return func()
    except KeyboardInterrupt:
        print_error("interrupted")
        return 130
    except expected_errors() as exc:
        if debug:
            traceback.print_exc()
        print_error(one_line(_text(exc)))
        return EXIT_USAGE
    except Exception as exc:            # noqa: BLE001 - the last line of defence: no traceback without --debug
        if debug:
            traceback.print_exc()
        print_error(f"internal error, {type(exc).__name__}: {one_line(_text(exc))} "
                    "(rerun with --debug for the traceback and report it)")
        return EXIT_INTERNAL


def _text(exc: BaseException) -> str:
    """An exception's message; KeyError's str() adds quotes, FileNotFoundError may lack the path."""
    if isinstance(exc, KeyError) and exc.args:
        return f"no such key {exc.args[0]!r}"
    if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in str(exc):
        return f"{exc.strerror or exc}: {exc.filename}"
    return str(exc) or type(exc).__name__
