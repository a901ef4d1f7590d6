"""The ``k8s.chart`` operation: a view's chart and numbers on disk, as its record in ``analysis.views`` draws them."""
from typing import Any, Dict

from dffml import Definition, op

from dffml_k8s_analysis.analysis.drawing import draw
from dffml_k8s_analysis.errors import UserError
from operations.analyze import NUMBERS

OUT = Definition(name="analyze.out", primitive="str", default="out/analysis")
PNG = Definition(name="analyze.png", primitive="bool", default=False)
RESULT = Definition(name="analyze.result", primitive="Dict[str, Any]")


@op(name="k8s.chart", inputs={"numbers": NUMBERS, "out": OUT, "png": PNG}, outputs={"result": RESULT})
async def chart(numbers: Dict[str, Any], out: str, png: bool) -> Dict[str, Any]:
    """A view's chart (SVG; also PNG with ``png``) and numbers on disk, and the numbers with the files' paths
    (drawn by a worker process of ``flows.run_analyze``'s, while the next views are computed)."""
    try:
        files = await draw(numbers, out, png)
    except OSError as error:
        raise UserError(f"cannot write the charts in {out}: {error.strerror or error}") from None
    return {"result": dict(numbers, files=files)}
