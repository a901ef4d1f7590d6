"""The ``k8s.chart`` operation: a view's chart and numbers on disk, as its record in ``analysis.views`` draws them."""
from typing import Any, Dict

from dffml import Definition, op

from dffml_k8s_analysis.analysis.views import render
from dffml_k8s_analysis.errors import UserError
from operations.analyze import NUMBERS

OUT = Definition(name="analyze.out", primitive="str", default="out/analysis")
PNG = Definition(name="analyze.png", primitive="bool", default=False)
RESULT = Definition(name="analyze.result", primitive="Dict[str, Any]")


@op(name="k8s.chart", inputs={"numbers": NUMBERS, "out": OUT, "png": PNG}, outputs={"result": RESULT})
def chart(numbers: Dict[str, Any], out: str, png: bool) -> Dict[str, Any]:
    """A view's chart (SVG; also PNG with ``png``) and numbers on disk, and the numbers with the files' paths."""
    try:
        files = render(numbers, out, png)
    except OSError as error:
        raise UserError(f"cannot write the charts in {out}: {error.strerror or error}") from None
    return {"result": dict(numbers, files=files)}
