"""The web UI's login: the API token, once, into an HttpOnly, SameSite=Strict cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vigil.api.auth import TOKEN_COOKIE, offers_token, token_matches
from vigil.api.ui import render

router = APIRouter(tags=["ui"], include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    token: str | None = request.app.state.token
    if token is None or offers_token(request, token):
        return RedirectResponse("/", status_code=303)
    return HTMLResponse(render("login.html"))


@router.post("/login")
async def login(request: Request, token: Annotated[str, Form(max_length=200)]) -> Response:
    expected: str | None = request.app.state.token
    if expected is None:
        return RedirectResponse("/", status_code=303)
    if not token_matches(token.strip(), expected):
        return HTMLResponse(render("login.html", error="That is not this agent's token."), 401)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        TOKEN_COOKIE,
        expected,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
async def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(TOKEN_COOKIE)
    return response
