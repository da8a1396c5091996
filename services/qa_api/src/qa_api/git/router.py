"""`/api/v2/git`: what git says about a project, as the webhook listener sends it."""

from __future__ import annotations

from fastapi import APIRouter

from qa_api.deps import CommitsWriteAccess, SessionDep
from qa_api.git import service
from qahub_shared.schemas.git import GitUpdates, GitUpdatesApplied

router = APIRouter(prefix="/api/v2/git", tags=["git"])


@router.post("/updates", summary="Record commits and ref updates from git")
async def apply_updates(
    body: GitUpdates, access: CommitsWriteAccess, session: SessionDep
) -> GitUpdatesApplied:
    """Commits, and branches and tags moved, created or deleted, for one project, in one transaction.

    Idempotent: the same updates applied again change nothing (and answer zeros). Needs a token with
    `commits:write` on the project (the webhook listener's).
    """
    access.check(body.project)
    return await service.apply_updates(session, body)
