"""Names from the data (labels, logins) made safe to print: in a terminal, an HTML page, an SVG chart."""
import re

# C0 and C1 controls (NUL, ESC, ...), lone surrogates and the two non-characters XML forbids
UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def printable(text: str) -> str:
    """``text`` without the characters a terminal would obey or an XML document refuses."""
    return UNPRINTABLE.sub("", text)
