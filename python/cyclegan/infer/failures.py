"""The failures file of a cyclegan-infer run: which inputs failed and why.

TSV, one line per input: path, tab, reason. Backslash escapes keep tabs, newlines and
backslashes in file names, so read_failures gives the exact paths back (e.g. to retry just
those inputs). One file per output folder and shard, written atomically at the end of a run.
"""

from __future__ import annotations

from pathlib import Path

_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {v[1]: k for k, v in _ESCAPES.items()}


def failures_name(shard: tuple[int, int]) -> str:
    """The file's name in the output folder (a local one or a URI) of a run or shard."""
    i, n = shard
    return "cyclegan-failures.tsv" if n == 1 else f"cyclegan-failures.shard-{i}-of-{n}.tsv"


def _escape(text: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in str(text))


def _unescape(text: str) -> str:
    out, chars = [], iter(text)
    for c in chars:
        out.append(_UNESCAPES.get(next(chars, ""), "") if c == "\\" else c)
    return "".join(out)


def failures_tsv(failures: list[tuple[Path | str, str]]) -> bytes:
    """The file's bytes (a run writes them through cyclegan.infer.storage)."""
    lines = [f"{_escape(p)}\t{_escape(r)}\n" for p, r in sorted(failures, key=lambda f: str(f[0]))]
    return "".join(lines).encode("utf-8", "surrogateescape")


def read_failures(path: Path) -> list[tuple[Path, str]]:
    """The (path, reason) pairs of a failures file."""
    text = path.read_bytes().decode("utf-8", "surrogateescape")
    return [(Path(_unescape(p)), _unescape(r))
            for p, r in (line.split("\t", 1) for line in text.split("\n") if line)]
