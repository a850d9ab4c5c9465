"""Command-line arguments before click parses them: options whose value may be left out."""

from __future__ import annotations


def optional_values(argv: list[str], option: str, default: str) -> list[str]:
    """``argv`` with ``default`` after every ``option`` not followed by a number (click's options
    take a value or none, not an optional one: ``search worker S --wait`` means the default)."""
    out = list(argv)
    for i in reversed(range(len(out))):
        if out[i] == option:
            following = out[i + 1] if i + 1 < len(out) else ""
            try:
                float(following)
            except ValueError:
                out.insert(i + 1, default)
    return out
