"""User data (write scope): delete everything stored about a user, or export it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from ranker.service.auth import require
from ranker.service.routes.common import deps_of
from ranker.service.schemas import PathId

router = APIRouter(tags=["users"], dependencies=[Depends(require("write"))])


@router.delete("/v1/users/{user_id}")
def delete_user(request: Request, user_id: PathId) -> dict:
    """Forget the user: events and profile, in one transaction."""
    removed = deps_of(request).profiles.get().delete_user(user_id)
    return {"user_id": user_id, "deleted": True, "removed": removed}


@router.get("/v1/users/{user_id}/export")
def export_user(request: Request, user_id: PathId) -> dict:
    """Everything stored about the user (their data, for a data-access request)."""
    return deps_of(request).profiles.get().export_user(user_id)
