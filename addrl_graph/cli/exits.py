"""How both command lines end (``python -m addrl_graph`` and ``python -m data_builders``).

:func:`run_command` runs a command and turns what a user can cause into one line on stderr
and an exit status: a bad argument or an :class:`~addrl_graph.errors.AddrlError` prints
``error: ...`` and exits 2, Ctrl-C prints ``interrupted`` and exits 130. Any other exception
is an internal error and keeps its traceback. :func:`user_paths` makes an :class:`OSError` on
a path the user gave (a file or folder under it: permission denied, a file where a folder
belongs) a :class:`~addrl_graph.errors.ConfigError` naming the flag, and so does a full disk;
an :class:`OSError` anywhere else stays internal. :class:`OneLineParser` is an
:mod:`argparse` parser whose errors raise instead of printing the usage and exiting.

Like :mod:`addrl_graph.cli.flags`, this module loads neither torch nor the training stack.
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import os
import sys
from argparse import ArgumentError
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from addrl_graph.cli.flags import Flag, flag_spellings, one_line_error
from addrl_graph.errors import AddrlError, ConfigError

#: Exit statuses: a user's error (as argparse's), and Ctrl-C (128 + SIGINT, as a shell's).
USER_ERROR, INTERRUPTED = 2, 130
#: Errors of a full disk or quota: the machine's state, never the code's.
_FULL = {errno.ENOSPC, getattr(errno, 'EDQUOT', errno.ENOSPC)}  # no EDQUOT on Windows
_HELP_END = ' --help)'


class OneLineParser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` (and its subcommands' parsers) whose errors raise
    :class:`argparse.ArgumentError`, saying where the help is, for :func:`run_command` to
    print as one line."""

    def error(self, message: str):
        if not message.endswith(_HELP_END):  # a subcommand's parser has said where already
            message += f' (see {self.prog}{_HELP_END}'
        raise ArgumentError(None, message)


def run_command(command: Callable[[], None], flags: Mapping[str, Flag] | None = None) -> int:
    """Run ``command()`` (parse the arguments, then do the work) and return the exit status.

    Args:
        command: the command line's whole work; it raises :class:`argparse.ArgumentError` for
            a bad argument and :class:`~addrl_graph.errors.AddrlError` for any other user error.
        flags: the generated flags by key, so that a jsonargparse error names the flag
            (:func:`~addrl_graph.cli.flags.one_line_error`).

    Returns:
        0; 2 after ``error: <one line>`` on stderr; 130 after ``interrupted``.
    """
    try:
        command()
    except ArgumentError as e:
        return _fail(one_line_error(str(e), flags or {}))
    except AddrlError as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return INTERRUPTED
    return 0


def _fail(message: str) -> int:
    print('error: ' + ' '.join(line.strip() for line in message.splitlines() if line.strip()),
          file=sys.stderr)
    return USER_ERROR


@contextlib.contextmanager
def user_paths(options: Mapping[str, Any]) -> Iterator[None]:
    """Within the block, an :class:`OSError` on one of the :class:`~pathlib.Path` values of
    ``options`` (parsed values by key) or on anything under it, and any error of a full disk,
    become :class:`~addrl_graph.errors.ConfigError` naming the flag; other errors pass."""
    given = {flag_spellings(key)[0]: value for key, value in options.items()
             if isinstance(value, Path)}
    try:
        yield
    except OSError as e:
        if e.errno in _FULL:
            raise ConfigError(f'{e.strerror} writing {e.filename or "the output"}: free some '
                              'space or choose another --out') from None
        flag = _flag_of(e, given)
        if flag is None:
            raise
        raise ConfigError(f'{flag} {given[flag]}: {e.strerror or e} ({e.filename}); choose '
                          f'another {flag} or fix that path') from None


def _flag_of(error: OSError, given: Mapping[str, Path]) -> str | None:
    """The flag whose path ``error`` names (itself or something under it), if any."""
    names = [os.path.abspath(n) for n in (error.filename, error.filename2)
             if isinstance(n, (str, os.PathLike))]
    for flag, path in given.items():
        root = os.path.abspath(path)
        if any(n == root or n.startswith(root.rstrip(os.sep) + os.sep) for n in names):
            return flag
    return None
