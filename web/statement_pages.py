"""An employee's own pay statements: each review cycle's approved outcome (rewards ``GET /me/statements``).

Only ever the signed-in person's own: the page asks rewards with their token for theirs, and
there is no address naming anyone else. Rewards refuses a deactivated person (403), and the
page passes that on.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from web.pages import api_for
from web.rendering import renderer
from web.session import SignedIn

router = APIRouter()


@router.get("/statements", name="statements")
async def statements_page(request: Request, person: SignedIn) -> Response:
    history = await api_for(request, person).get("rewards", "/me/statements")
    return renderer(request).page(request, "statements.html", person, statements=history["statements"])
