"""Every failure leaves as OpenAI's error envelope; nothing leaves as a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from assistantd.api.validation import BAD_JSON, first_error
from assistantd.errors import APIError, InvalidRequest, NotFound, ServerError

log = logging.getLogger("assistantd")


def error_response(error: APIError) -> JSONResponse:
    headers = {**(error.headers or {}), **({"retry-after": str(error.retry_after)} if error.retry_after else {})}
    return JSONResponse(error.envelope(), status_code=error.status_code, headers=headers or None)


def install(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(_request: Request, exc: APIError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(first_error(list(exc.errors())))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code in (404, 405):
            return error_response(NotFound(f"Invalid URL ({request.method} {request.url.path})"))
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            return error_response(InvalidRequest(BAD_JSON))  # FastAPI's words for undecodable bytes
        return error_response(InvalidRequest(str(exc.detail)))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(
            ServerError("The server had an error while processing your request. Sorry about that!")
        )
