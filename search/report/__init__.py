"""``search report``: one study in one self-contained HTML file, read back from its stores."""

from __future__ import annotations

from search._lazy import lazy_getattr

_LAZY = {
    "ReportData": "search.report._gather",
    "Tracked": "search.report._gather",
    "gather": "search.report._gather",
    "render": "search.report._html",
    "check_out": "search.report._html",
    "write_report": "search.report._html",
}

__all__ = list(_LAZY)

__getattr__ = lazy_getattr("search.report", _LAZY)
