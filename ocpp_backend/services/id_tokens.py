"""Authorization of id tokens (RFID cards and the like)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from ocpp_backend.db import Database
from ocpp_backend.models import IdToken
from ocpp_backend.timeutil import utc_now

TOKEN_STATUSES = ("Accepted", "Blocked", "Expired", "Invalid")
MAX_ID_TAG_CHARS = 20  # OCPP 1.6 IdToken is CiString20


@dataclass(frozen=True)
class Authorization:
    """The answer for an idTag (OCPP IdTagInfo in domain terms)."""

    status: str  # Accepted | Blocked | Expired | Invalid
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None


def validate_id_tag(id_tag: str) -> str:
    """Return ``id_tag`` if it fits OCPP's IdToken, else raise ValueError."""
    if not 1 <= len(id_tag) <= MAX_ID_TAG_CHARS:
        raise ValueError(f"id tag must be 1-{MAX_ID_TAG_CHARS} characters")
    return id_tag


class IdTokenService:
    """Registered id tokens and the authorization rules."""

    def __init__(self, db: Database, accept_unknown: bool = False) -> None:
        self._db = db
        self.accept_unknown = accept_unknown  # unknown tags are Invalid unless this is set

    async def put(
        self,
        id_tag: str,
        status: str = "Accepted",
        expiry_date: datetime | None = None,
        parent_id_tag: str | None = None,
    ) -> IdToken:
        """Register a token, or update it if it exists. Raises ValueError for bad values."""
        validate_id_tag(id_tag)
        if status not in TOKEN_STATUSES:
            raise ValueError(f"status must be one of {', '.join(TOKEN_STATUSES)}")
        if parent_id_tag is not None:
            validate_id_tag(parent_id_tag)
        async with self._db.session() as session:
            token = await session.get(IdToken, id_tag)
            if token is None:
                token = IdToken(id_tag=id_tag)
                session.add(token)
            token.status = status
            token.expiry_date = expiry_date
            token.parent_id_tag = parent_id_tag
        return token

    async def remove(self, id_tag: str) -> bool:
        """Forget a token; False if it was not registered."""
        async with self._db.session() as session:
            token = await session.get(IdToken, id_tag)
            if token is None:
                return False
            await session.delete(token)
            return True

    async def list(self) -> list[IdToken]:
        """Every registered token, ordered by tag."""
        async with self._db.session() as session:
            return list(await session.scalars(select(IdToken).order_by(IdToken.id_tag)))

    async def authorize(self, id_tag: str, now: datetime | None = None) -> Authorization:
        """Decide whether ``id_tag`` may charge.

        A registered token answers its status, turned into ``Expired`` once its expiry date has
        passed; an unknown one is ``Invalid`` unless unknown tags are accepted.
        """
        now = now or utc_now()
        async with self._db.session() as session:
            token = await session.get(IdToken, id_tag)
        if token is None:
            return Authorization("Accepted" if self.accept_unknown else "Invalid")
        status = token.status
        if status == "Accepted" and token.expiry_date is not None and token.expiry_date <= now:
            status = "Expired"
        return Authorization(status, token.expiry_date, token.parent_id_tag)
