"""The HTTP API (OpenAI's videos API shape) and the page, over the job store and the worker processes.

    POST   /v1/videos                 a new job (JSON, or multipart with an input_reference file) -> video
    GET    /v1/videos                 newest first (?limit=20&after=ID)
    GET    /v1/videos/{id}            the video object: status, progress, error, the resolved request
    GET    /v1/videos/{id}/content    the MP4 (?variant=thumbnail: a JPEG), once completed
    DELETE /v1/videos/{id}            cancels a queued or running job and removes its files
    POST   /v1/videos/{id}/remix      {"prompt"}: that video edited to follow a new prompt
    GET    /health                    workers and queue; GET / the page; GET /docs the OpenAPI schema

Errors are {"error": {"message", "type", "code", "param"}}: 400 for bad input (with the CLI's words: the
worker checks each job with task.rehearse before it is queued), 404 an unknown id, 409 a video not ready
for what was asked, 413 an upload over the cap, 429 a full queue, 503 no worker ready yet.
This process never imports torch: the workers own the model.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from tessera.serve.limits import BodyLimit
from tessera.serve.schema import (
    JSON_FIELDS,
    VideoCreate,
    VideoDeleted,
    VideoList,
    VideoObject,
    VideoRemix,
    video_object,
)
from tessera.serve.service import ApiError, ServeConfig, VideoService

STATIC = Path(__file__).parent / "static"
router = APIRouter()


def _error(status: int, code: str, message: str, param: str | None = None) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"message": message, "type": kind, "code": code, "param": param}
    return JSONResponse({"error": body}, status_code=status)


async def _read_body(request: Request, max_upload: int) -> tuple[VideoCreate, tuple[str, bytes] | None]:
    """A JSON body, or a multipart form whose object fields are JSON text and whose one file is
    input_reference."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    upload = None
    if kind == "application/json":
        try:
            fields = await request.json()
        except ValueError as error:
            raise ApiError(400, "invalid_json", f"the body is not JSON: {error}") from None
        if not isinstance(fields, dict):
            raise ApiError(
                400, "invalid_json", 'the body must be a JSON object, e.g. {"prompt": "a red ball"}'
            )
        if "input_reference" in fields:
            raise ApiError(
                400,
                "invalid_request",
                "input_reference is a file: send it in a multipart/form-data body",
                "input_reference",
            )
    elif kind in ("multipart/form-data", "application/x-www-form-urlencoded"):
        fields = {}
        async with request.form(max_files=1) as form:
            for key, value in form.multi_items():
                if key == "input_reference":
                    if not isinstance(value, UploadFile):
                        raise ApiError(400, "invalid_request", "input_reference must be a file", key)
                    content = await value.read()
                    if len(content) > max_upload:
                        raise ApiError(
                            413,
                            "file_too_large",
                            f"input_reference is {len(content)} bytes; the most is {max_upload}",
                            key,
                        )
                    if not content:
                        raise ApiError(400, "invalid_file", "input_reference is empty", key)
                    upload = (value.filename or "upload", content)
                elif isinstance(value, UploadFile):
                    raise ApiError(
                        400, "invalid_request", f"{key} is a file; only input_reference may be", key
                    )
                elif key in JSON_FIELDS:
                    try:
                        fields[key] = json.loads(value)
                    except ValueError:
                        raise ApiError(
                            400,
                            "invalid_request",
                            f'{key} must be JSON text in a form, e.g. {{"video_id": "video_..."}}',
                            key,
                        ) from None
                else:
                    fields[key] = value
    else:
        raise ApiError(
            400,
            "invalid_request",
            f"content type {kind or 'none'!r}: send application/json, or multipart/form-data with a file",
        )
    try:
        return VideoCreate.model_validate(fields), upload
    except ValidationError as error:
        raise ApiError(400, "invalid_request", _explain(error, VideoCreate)) from None


def _explain(error: ValidationError, model: type) -> str:
    """Pydantic's errors in the CLI's manner: the field, what is wrong, what is allowed."""
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            parts.append(f"unknown field {where!r}; allowed: {', '.join(model.model_fields)}")
        else:
            got = "" if item["type"] == "value_error" else f", got {item.get('input')!r}"  # ours name it
            parts.append(f"{where}: {item['msg'].removeprefix('Value error, ')}{got}")
    return "; ".join(parts)


def _service(request: Request) -> VideoService:
    return request.app.state.service


Service = Annotated[VideoService, Depends(_service)]
_BODY = {"$ref": "#/components/schemas/VideoCreate"}
_FORM = {"allOf": [_BODY], "properties": {"input_reference": {"type": "string", "format": "binary"}}}
_BODIES = {"application/json": {"schema": _BODY}, "multipart/form-data": {"schema": _FORM}}


@router.post(
    "/v1/videos",
    response_model=VideoObject,
    openapi_extra={"requestBody": {"required": True, "content": _BODIES}},
)
async def create_video(request: Request, service: Service) -> VideoObject:
    body, upload = await _read_body(request, service.max_upload)
    return video_object(await run_in_threadpool(service.submit, body, upload))


@router.get("/v1/videos", response_model=VideoList)
def list_videos(
    service: Service, limit: Annotated[int, Query(ge=1, le=100)] = 20, after: str | None = None
) -> VideoList:
    try:
        jobs, more = service.store.list(limit, after)
    except KeyError:
        raise ApiError(400, "invalid_request", f"after: no video {after!r}", "after") from None
    data = [video_object(job) for job in jobs]
    first, last = (data[0].id, data[-1].id) if data else (None, None)
    return VideoList(data=data, first_id=first, last_id=last, has_more=more)


@router.get("/v1/videos/{video_id}", response_model=VideoObject)
def get_video(video_id: str, service: Service) -> VideoObject:
    return video_object(service.job(video_id))


@router.get("/v1/videos/{video_id}/content", response_class=FileResponse)
def video_content(video_id: str, service: Service, variant: str = "video") -> FileResponse:
    job = service.job(video_id)
    files = {
        "video": (service.folder.video, "video/mp4"),
        "thumbnail": (service.folder.thumbnail, "image/jpeg"),
    }
    if variant not in files:
        raise ApiError(
            400, "invalid_request", f"variant {variant!r} is not one of {', '.join(files)}", "variant"
        )
    if job.status != "completed":
        message = f"video {video_id!r} is {job.status}; its content is there once completed"
        raise ApiError(409, "video_not_ready", message)
    where, media_type = files[variant]
    path = where(video_id)
    return FileResponse(path, media_type=media_type, filename=path.name, content_disposition_type="inline")


@router.delete("/v1/videos/{video_id}", response_model=VideoDeleted)
def delete_video(video_id: str, service: Service) -> VideoDeleted:
    if service.store.delete(video_id) is None:  # a running job's worker sees this at its next step
        raise ApiError(404, "video_not_found", f"no video {video_id!r}", "video_id")
    service.folder.remove(video_id)
    return VideoDeleted(id=video_id)


@router.post("/v1/videos/{video_id}/remix", response_model=VideoObject)
def remix_video(video_id: str, remix: VideoRemix, service: Service) -> VideoObject:
    """The video edited to follow a new prompt, at its own size, length, seed and steps."""
    source = service.job(video_id)
    if source.status != "completed":
        message = f"video {video_id!r} is {source.status}; only a completed video can be remixed"
        raise ApiError(409, "video_not_ready", message)
    request = source.resolved["request"]
    body = VideoCreate(
        prompt=remix.prompt,
        size=f"{request['width']}x{request['height']}",
        frames=request["num_frames"],
        seed=request["seed"],
        steps=request["steps"],
        guidance=request["guidance"],
        negative_prompt=request["negative_prompt"],
        edit={"video_id": video_id, "strength": remix.strength},
    )
    return video_object(service.submit(body, None, remixed_from=video_id))


@router.get("/health")
def health(service: Service) -> dict[str, Any]:
    model = service.supervisor.model
    return {"workers": service.supervisor.health(), "jobs": service.store.counts(), "model": model}


@router.get("/", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


async def _api_error(request: Request, error: ApiError) -> JSONResponse:
    return _error(error.status, error.code, error.message, error.param)


async def _query_error(request: Request, error: RequestValidationError) -> JSONResponse:
    where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
    return _error(400, "invalid_request", where)


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    code = "not_found" if error.status_code == 404 else "http_error"
    return _error(error.status_code, code, str(error.detail))


def _with_request_body_schemas(app: FastAPI) -> None:
    """POST /v1/videos reads its body itself (JSON or multipart), so FastAPI cannot see VideoCreate: put it
    (and the models it holds) into the schema that /docs shows."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            body = VideoCreate.model_json_schema(ref_template="#/components/schemas/{model}")
            schema["components"]["schemas"].update({**body.pop("$defs", {}), "VideoCreate": body})
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi


def create_app(config: ServeConfig) -> FastAPI:
    """The app. Takes the data folder (ValueError if another server has it); workers start with the app."""
    service = VideoService(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(title="tessera", description="Videos from text, images and videos.", lifespan=lifespan)
    app.state.service = service
    app.add_middleware(BodyLimit, limit=service.max_upload + 2**20)  # an upload plus the form's other fields
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _query_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _with_request_body_schemas(app)
    return app


def serve(config: ServeConfig) -> None:
    """Run the server until it is stopped (Ctrl-C ends the workers; their jobs run again at next start)."""
    import uvicorn

    uvicorn.run(create_app(config), host=config.host, port=config.port)
