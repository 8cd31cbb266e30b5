"""The dashboard: one static page over the public API; Plotly served from its package (never a
CDN) under a URL carrying its version, so browsers may cache it for good."""

from __future__ import annotations

import functools
import gzip
from importlib import metadata, resources
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import FileResponse, HTMLResponse, Response

STATIC = Path(__file__).parents[1] / "static"  # the page, its script and style
PLOTLY_JS = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))

router = APIRouter(include_in_schema=False)


@functools.cache
def _page() -> str:
    return (STATIC / "index.html").read_text(encoding="utf-8").replace(
        "{{plotly_version}}", metadata.version("plotly"))


@functools.cache
def _plotly_gzip() -> bytes:  # 4.8 MB -> 1.5 MB, compressed once per process
    return gzip.compress(PLOTLY_JS.read_bytes(), mtime=0)


@router.get("/")
def dashboard():
    return HTMLResponse(_page(), headers={"Cache-Control": "no-cache"})


@router.get("/static/plotly.min.js")
def plotly_bundle(accept_encoding: Annotated[str, Header()] = ""):
    headers = {"Cache-Control": "public, max-age=31536000, immutable", "Vary": "Accept-Encoding"}
    if "gzip" in accept_encoding:
        return Response(_plotly_gzip(), media_type="text/javascript",
                        headers={**headers, "Content-Encoding": "gzip"})
    return FileResponse(PLOTLY_JS, media_type="text/javascript", headers=headers)
