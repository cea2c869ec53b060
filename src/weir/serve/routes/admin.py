"""POST /admin/reload and /admin/promote: look for a promotion now, or make one."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from weir.serve.body_route import BodyRoute
from weir.serve.routes.keyed import KEYED
from weir.serve.served import Served


class Promotion(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # no version from a string

    version: int = Field(ge=1, le=2**31 - 1)
    stage: Literal["candidate", "staging", "production", "archived"] = "production"
    reason: str = Field(default="", max_length=1000)

    @field_validator("reason")
    @classmethod
    def _text(cls, value: str) -> str:
        value.encode("utf-8")  # lone surrogates cannot be stored; UnicodeError is a ValueError
        return value


def admin_router(served: Served) -> APIRouter:
    router = APIRouter()

    @router.post("/admin/reload", dependencies=KEYED, summary="Look for a promotion now")
    def reload() -> dict[str, Any]:
        swapped = served.refresh()
        return {
            "model": served.model,
            "version": served.holder.current.version,
            "swapped": swapped,
            "problem": served.blocked,
        }

    # A BodyRoute: its body is read as the predictions' are (a field given twice is refused).
    def promote(promotion: Promotion) -> dict[str, Any]:
        moves = served.ws.catalog.set_stage(
            served.model,
            promotion.version,
            promotion.stage,
            promotion.reason or "promoted through the API",
        )
        swapped = served.refresh()
        return {
            "moves": [f"v{m.version}: {m.from_stage} -> {m.to_stage}" for m in moves],
            "version": served.holder.current.version,
            "swapped": swapped,
        }

    router.add_api_route(
        "/admin/promote",
        promote,
        methods=["POST"],
        dependencies=KEYED,
        summary="Promote a version, then reload",
        route_class_override=BodyRoute,
    )
    return router
