"""The HTTP API and the page: FastAPI routes over one LabelQueue.

The request path is kept cheap: the body is read once (up to a size limit), validated by pydantic
straight from the bytes, and the response is built from ``writers.sentence_records`` with orjson.
The pydantic response models below document the API in ``/docs``; they are never run per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from factsift import __version__
from factsift.inputs import DEFAULT_MAX_CHARS, check_text
from factsift.model import Classifier
from factsift.serve.batcher import LabelQueue
from factsift.writers import sentence_records

MAX_BODY_BYTES = 1_000_000
MAX_TEXTS = 64
STATIC = Path(__file__).resolve().parent / "static"
PAGE_FILES = {"/": ("index.html", "text/html"), "/page.js": ("page.js", "text/javascript"),
              "/page.css": ("page.css", "text/css")}
# The page loads nothing but itself and talks only to this server.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


# ---- request and response shapes -------------------------------------------------------------
class LabelRequest(BaseModel):
    """Either ``text``, or ``texts`` with optional ``ids`` (default: "0", "1", ...)."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(None, description="one text; the response holds its sentences")
    texts: list[str] | None = Field(None, description=f"up to {MAX_TEXTS} texts; the response holds one document each")
    ids: list[str] | None = Field(None, description="one id per text in ``texts``")

    @model_validator(mode="after")
    def _one_shape(self) -> LabelRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' and 'texts'")
        if self.ids is not None and (self.texts is None or len(self.ids) != len(self.texts)):
            raise ValueError(f"'ids' needs one id per entry of 'texts' ({len(self.ids)} ids)")
        return self


class SentenceRecord(BaseModel):
    """One sentence: the fields of a ``factsift label --format jsonl`` row."""

    doc_id: str = Field(description="the document's id ('' for a single ``text``)")
    sentence_index: int
    paragraph: int
    start: int = Field(description="character offset of the sentence in its text")
    end: int
    text: str
    label: str
    score: float = Field(description="calibrated probability of ``label``")
    scores: dict[str, float]


class SentencesResponse(BaseModel):
    """The answer to a ``text``."""

    sentences: list[SentenceRecord]


class DocumentResult(BaseModel):
    """One text of a ``texts`` request."""

    id: str
    sentences: list[SentenceRecord]


class DocumentsResponse(BaseModel):
    """The answer to ``texts``, in their order."""

    documents: list[DocumentResult]


class Health(BaseModel):
    """What ``GET /v1/health`` tells."""

    status: str
    model: str
    labels: list[str]
    backend: str
    version: str
    max_texts: int
    max_body_bytes: int


class ErrorResponse(BaseModel):
    """Any refused request."""

    detail: str = Field(description="what was wrong, naming the field")


class ApiError(Exception):
    """A request the API refuses: answered with ``status`` and ``{"detail": message}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# ---- the app ----------------------------------------------------------------------------------
def create_app(
    classifier: Classifier,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_texts: int = MAX_TEXTS,
    batch_size: int = 32,
    cors_origins: list[str] | None = None,
) -> FastAPI:
    """The FastAPI app serving ``classifier``: ``POST /v1/label``, ``GET /v1/health`` and the page at ``/``.

    The labelling worker starts and stops with the app's lifespan. CORS headers are sent only for
    ``cors_origins``.
    """
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.labeller = LabelQueue(classifier, batch_size=batch_size, max_chars=DEFAULT_MAX_CHARS)
        yield
        await asyncio.to_thread(app.state.labeller.close)

    app = FastAPI(
        title="factsift", version=__version__, lifespan=lifespan,
        description="Label each sentence of a text as fact, quotation or opinion.",
    )
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type"])
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(Exception, _internal_error)
    health = orjson.dumps(Health(
        status="ok", model=Path(classifier.source).name or classifier.source, labels=classifier.labels,
        backend=type(classifier.backend).__name__.removesuffix("Backend").lower(), version=__version__,
        max_texts=max_texts, max_body_bytes=max_body_bytes,
    ).model_dump())
    errors = {status: {"model": ErrorResponse} for status in (400, 413, 422)}

    @app.post(
        "/v1/label", response_class=Response, summary="Label the sentences of one or many texts",
        responses={200: {"model": SentencesResponse | DocumentsResponse,
                         "description": "``sentences`` for a ``text``, ``documents`` for ``texts``"}, **errors},
        openapi_extra={"requestBody": {"required": True, "content": {
            "application/json": {"schema": LabelRequest.model_json_schema()}}}},
    )
    async def label(request: Request) -> Response:
        body = await _read_body(request, max_body_bytes)
        parsed = _parse(body)
        texts = [parsed.text] if parsed.texts is None else parsed.texts
        if len(texts) > max_texts:
            raise ApiError(413, f"texts: {len(texts)} texts, over the limit of {max_texts} a request")
        for index, text in enumerate(texts):
            try:
                check_text(text, "text" if parsed.texts is None else f"texts[{index}]", DEFAULT_MAX_CHARS)
            except ValueError as error:
                raise ApiError(422, str(error)) from None
        documents = await asyncio.wrap_future(request.app.state.labeller.submit(texts))
        if parsed.texts is None:
            payload: dict = {"sentences": sentence_records("", documents[0])}
        else:
            ids = parsed.ids or [str(index) for index in range(len(texts))]
            payload = {"documents": [{"id": doc_id, "sentences": sentence_records(doc_id, sentences)}
                                     for doc_id, sentences in zip(ids, documents)]}
        return Response(orjson.dumps(payload), media_type="application/json")

    @app.get("/v1/health", response_class=Response, responses={200: {"model": Health}},
             summary="The model, its labels and backend, and the factsift version")
    async def get_health() -> Response:
        return Response(health, media_type="application/json")

    for path, (name, media_type) in PAGE_FILES.items():
        _add_page_file(app, path, (STATIC / name).read_bytes(), media_type)
    return app


def _add_page_file(app: FastAPI, path: str, content: bytes, media_type: str) -> None:
    async def page_file() -> Response:
        return Response(content, media_type=media_type, headers=PAGE_HEADERS)

    app.add_api_route(path, page_file, methods=["GET"], response_class=Response, include_in_schema=False)


# ---- reading a request ------------------------------------------------------------------------
async def _read_body(request: Request, limit: int) -> bytes:
    """The request body; ApiError 413 as soon as it is known to exceed ``limit`` bytes."""
    too_large = ApiError(413, f"request body over the limit of {limit:,} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(body: bytes) -> LabelRequest:
    """The validated request; ApiError 400 for invalid UTF-8, 422 naming the field for anything else."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(400, f"request body is not valid UTF-8: byte {body[error.start]:#04x} at offset {error.start}")
    try:
        return LabelRequest.model_validate_json(body)
    except ValidationError as error:
        problem = error.errors(include_url=False)[0]
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in problem["loc"]).lstrip(".")
        message = problem["msg"].removeprefix("Value error, ")
        raise ApiError(422, f"{where or 'body'}: {message}") from None


# ---- errors -----------------------------------------------------------------------------------
async def _api_error(request: Request, error: ApiError) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=error.status)


async def _internal_error(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"internal error: {type(error).__name__}"}, status_code=500)
