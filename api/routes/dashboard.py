"""The pages people look at: the dashboard (one static page over the public API) and the API
docs (Swagger UI at /docs, ReDoc at /redoc). Their scripts come from Python packages (Plotly's
from ``plotly``, under a URL carrying its version, so browsers may cache it for good; Swagger UI's
and ReDoc's from ``fastapi-offline``), never from a CDN: cluster nodes have no internet."""

from __future__ import annotations

import functools
import gzip
from importlib import metadata, resources
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response

from api.deps import Data
from twin.simulate import SHELTERED_SCALE

STATIC = Path(__file__).parents[1] / "static"  # the page, its script and style
PLOTLY_JS = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
DOCS_ASSETS = Path(str(resources.files("fastapi_offline") / "static"))
DOCS_URL = "/static/docs"
# ReDoc's bundle always asks its CDN for the "API docs by Redocly" logo; an empty image instead
# (ReDoc then drops it), so that the page makes no request off the service
REDOC_LOGO = (b"https://cdn.redoc.ly/redoc/logo-mini.svg", b"data:,")

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


@router.get("/dashboard/context.json")
def context(d: Data):
    """What the page needs to label and qualify what it draws, from the twin's Dataset: the
    currency of prices and costs, and each site's wind scaling (the page warns where the
    station wind is scaled by more than SHELTERED_SCALE, as the Dataset's wind_warning does).
    Not part of the public API: for the page's words, not for programs."""
    scale = d.ds["wind_speed_scale"]
    return {"currency": d.currency, "sheltered_scale": SHELTERED_SCALE,
            "wind_speed_scale": {str(s): round(float(v), 2)
                                 for s, v in zip(scale["site"].values, scale.values)}}


@router.get("/static/plotly.min.js")
def plotly_bundle(accept_encoding: Annotated[str, Header()] = ""):
    headers = {"Cache-Control": "public, max-age=31536000, immutable", "Vary": "Accept-Encoding"}
    if "gzip" in accept_encoding:
        return Response(_plotly_gzip(), media_type="text/javascript",
                        headers={**headers, "Content-Encoding": "gzip"})
    return FileResponse(PLOTLY_JS, media_type="text/javascript", headers=headers)


@router.get("/docs")
def swagger_ui(request: Request):
    return get_swagger_ui_html(openapi_url=request.app.openapi_url,
                               title=f"{request.app.title} - Swagger UI",
                               swagger_js_url=f"{DOCS_URL}/swagger-ui-bundle.js",
                               swagger_css_url=f"{DOCS_URL}/swagger-ui.css",
                               swagger_favicon_url=f"{DOCS_URL}/favicon.png")


@router.get("/redoc")
def redoc(request: Request):
    return get_redoc_html(openapi_url=request.app.openapi_url,
                          title=f"{request.app.title} - ReDoc",
                          redoc_js_url=f"{DOCS_URL}/redoc.standalone.js",
                          redoc_favicon_url=f"{DOCS_URL}/favicon.png", with_google_fonts=False)


@functools.cache
def _docs_asset(name: str) -> bytes:
    return (DOCS_ASSETS / name).read_bytes().replace(*REDOC_LOGO)


@router.get(DOCS_URL + "/{name}")
def docs_asset(name: str):
    types = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    if name not in {p.name for p in DOCS_ASSETS.iterdir()} or Path(name).suffix not in types:
        raise HTTPException(404, f"no file {name!r}")
    return Response(_docs_asset(name), media_type=types[Path(name).suffix],
                    headers={"Cache-Control": "public, max-age=86400"})
