"""CSV cells that a spreadsheet opens as text, never as a formula (CSV injection).

OWASP's advice: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
is read as a formula by Excel, LibreOffice and Google Sheets, so it gets a leading single
quote. One exception, on purpose: a phone number in E.164 form (``+`` then up to fifteen
digits, the only form the service stores) cannot hold a formula, and the dialers and mailers
that import a campaign list need it exactly; a spreadsheet shows it as a number (without
its ``+``) unless the column is imported as text.
"""

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def safe_cell(value: str) -> str:
    """``value`` as a CSV cell no spreadsheet evaluates: quoted when it could start a
    formula, unless it is an E.164 phone number."""
    if value.startswith(FORMULA_STARTS) and not _E164.fullmatch(value):
        return "'" + value
    return value
