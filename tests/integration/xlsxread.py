"""Reads the management workbook in the tests with a real reader, Debian's
python3-openpyxl. Imported first: when the python3 first in PATH is one of
its own (pyenv, a venv) without openpyxl, the test runs again under
/usr/bin/python3, which has it."""
import io
import os
import sys

try:
    import openpyxl  # noqa: F401
except ImportError:
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise


def load(body, data_only=False):
    """The workbook of XLSX bytes (or a path)."""
    src = io.BytesIO(body) if isinstance(body, (bytes, bytearray)) else body
    return openpyxl.load_workbook(src, data_only=data_only)


def cells(body):
    """{sheet: rows of cell values}, the Summary's "made by" line (row 3:
    the site and the time of generation) left out: what converged sites
    must give the same."""
    wb = load(body)
    out = {}
    for ws in wb.worksheets:
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        if ws.title == "Summary" and len(rows) >= 3:
            rows[2] = None
        out[ws.title] = rows
    return out
