"""Who may write: API users (scrypt-hashed passwords) and their bearer tokens (SHA-256 hashed).

Roles form a ladder, each including the ones before it::

    read < create < update < delete < admin

``read`` only identifies a caller today (anonymous HTTP reads and MQTT subscriptions need no
account), ``create`` is the append-only role a data logger or harvester gets, ``update`` may
also change entities, ``delete`` may also remove them, ``admin`` may do everything.
A fresh hub has no users at all, so nothing can be written until an operator adds one
(``auasu users add``). No password or token is ever stored or logged in clear.

**Broker secrets.** Publishing to the MQTT broker needs a secret of its own
(``auasu users mqtt-secret NAME``): Mosquitto checks passwords against its own hash format, which
cannot be derived from the scrypt hash of the HTTP password. Only that ``$7$`` hash is stored
(``users.broker_hash``, made by :func:`hub.sta.mqtt.broker.hash_password`); users without one
are not in the broker's password file at all (:func:`broker_accounts`).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    String,
    Table,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from adapters.base import hash_secret, verify_secret
from hub.store.schema import metadata
from hub.store.types import Id, UTCDateTime

if TYPE_CHECKING:
    from hub.store import Store

log = logging.getLogger(__name__)

ROLES: tuple[str, ...] = ("read", "create", "update", "delete", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}

# Caps checked before any hashing, so an oversized credential costs nothing (reliability.md
# §6 row 26); they are far above anything a person or a password manager produces.
MAX_NAME_LENGTH = 64
MAX_PASSWORD_LENGTH = 1024
MAX_TOKEN_LENGTH = 256
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")
MAX_BROKER_HASH_LENGTH = 200
# Mosquitto's PBKDF2-SHA512 line, the only form written (the files are line based: no spaces,
# no colons, no line breaks can slip in).
_BROKER_HASH = re.compile(r"\$7\$[0-9]{1,9}\$[A-Za-z0-9+/=]{1,64}\$[A-Za-z0-9+/=]{1,128}")
TOKEN_PREFIX = "auasu_"
# A last_used_at write per request would turn every authenticated read into a write.
_LAST_USED_GRANULARITY = timedelta(minutes=1)

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(MAX_NAME_LENGTH), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    # Mosquitto's hash of the user's broker secret; NULL: no MQTT account.
    Column("broker_hash", String(MAX_BROKER_HASH_LENGTH)),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Id, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("last_used_at", UTCDateTime),
)


@functools.cache
def _dummy_hash() -> str:
    # Verified when a name is unknown, so a miss costs about as much time as a wrong password
    # and response times do not tell which user names exist. Lazy: scrypt is slow on purpose.
    return hash_secret("no such user", salt=b"auasu-no-user!!!")


class UserError(ValueError):
    """An operator's request about users cannot be done; the message is one line."""


@dataclass(frozen=True, slots=True)
class UserInfo:
    """A user as ``auasu users list`` shows it (never the hash)."""

    name: str
    role: str
    created_at: datetime
    disabled: bool
    tokens: int
    mqtt: bool = False  # holds a broker secret


@dataclass(frozen=True, slots=True)
class BrokerAccount:
    """A user the MQTT broker should accept: name, role and the Mosquitto password hash."""

    name: str
    role: str
    broker_hash: str


@dataclass(frozen=True, slots=True)
class Account:
    """An authenticated user: what the API gates decide on."""

    name: str
    role: str


def role_includes(role: str, wanted: str) -> bool:
    """Whether ``role`` grants ``wanted`` on the ladder; ValueError for an unknown ``wanted``."""
    if wanted not in _RANK:
        raise ValueError(f"unknown role {wanted!r}")
    return role in _RANK and _RANK[role] >= _RANK[wanted]


def check_role(role: str) -> str:
    if role not in _RANK:
        raise UserError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


def check_name(name: str) -> str:
    if not name or len(name) > MAX_NAME_LENGTH or _NAME.fullmatch(name) is None:
        raise UserError(
            f"bad user name {name[:80]!r}: 1-{MAX_NAME_LENGTH} letters, digits, '.', '_', '@' "
            "or '-', starting with a letter or digit"
        )
    return name


def check_password(password: str) -> str:
    if not password:
        raise UserError("empty password refused")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"password longer than {MAX_PASSWORD_LENGTH} characters refused")
    return password


def token_digest(token: str) -> str:
    """What the store keeps of a bearer token: its SHA-256 (the token has 256 random bits, so a
    fast hash is enough; unlike a password it cannot be guessed from a dictionary)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_user(store: Store, name: str, role: str, password: str) -> None:
    """Create a user; UserError when the name is taken or anything is malformed."""
    check_name(name)
    check_role(role)
    hashed = hash_secret(check_password(password))
    try:
        with store.engine.execution_options(sqlite_immediate=True).begin() as conn:
            # The unique constraint decides (several hubs may share the database); this check
            # only gives the common case a clear message without relying on driver wording.
            if conn.execute(select(users.c.id).where(users.c.name == name)).first():
                raise UserError(f"user {name!r} already exists")
            conn.execute(
                users.insert().values(
                    name=name,
                    password_hash=hashed,
                    role=role,
                    created_at=datetime.now(UTC),
                    disabled=False,
                )
            )
    except IntegrityError as exc:
        raise UserError(f"user {name!r} already exists") from exc


def list_users(store: Store) -> list[UserInfo]:
    tokens = (
        select(api_tokens.c.user_id, func.count().label("n"))
        .group_by(api_tokens.c.user_id)
        .subquery()
    )
    query = (
        select(
            users.c.name,
            users.c.role,
            users.c.created_at,
            users.c.disabled,
            func.coalesce(tokens.c.n, 0),
            users.c.broker_hash.is_not(None),
        )
        .outerjoin(tokens, tokens.c.user_id == users.c.id)
        .order_by(users.c.name)
    )
    with store.engine.connect() as conn:
        return [
            UserInfo(r[0], r[1], r[2], bool(r[3]), int(r[4]), bool(r[5]))
            for r in conn.execute(query)
        ]


def set_broker_hash(store: Store, name: str, broker_hash: str | None) -> None:
    """Store the Mosquitto hash of ``name``'s new broker secret (None: remove the MQTT
    account); UserError when there is no such user or the hash is not a ``$7$`` line."""
    if broker_hash is not None and _BROKER_HASH.fullmatch(broker_hash) is None:
        raise UserError("not a Mosquitto $7$ password hash")
    with store.engine.execution_options(sqlite_immediate=True).begin() as conn:
        done = conn.execute(
            update(users).where(users.c.name == name).values(broker_hash=broker_hash)
        )
        if done.rowcount == 0:
            raise UserError(f"no user named {name[:80]!r}")


def broker_accounts(store: Store) -> list[BrokerAccount]:
    """Enabled users with a broker secret, by name: what the broker's password file lists."""
    query = (
        select(users.c.name, users.c.role, users.c.broker_hash)
        .where(users.c.broker_hash.is_not(None), users.c.disabled.is_(False))
        .order_by(users.c.name)
    )
    with store.engine.connect() as conn:
        return [
            BrokerAccount(row.name, row.role, row.broker_hash)
            for row in conn.execute(query)
            if _BROKER_HASH.fullmatch(row.broker_hash) is not None
        ]


def remove_user(store: Store, name: str) -> None:
    """Delete a user and every token of theirs; UserError when there is no such user."""
    with store.engine.execution_options(sqlite_immediate=True).begin() as conn:
        user_id = conn.execute(select(users.c.id).where(users.c.name == name)).scalar()
        if user_id is None:
            raise UserError(f"no user named {name[:80]!r}")
        conn.execute(delete(api_tokens).where(api_tokens.c.user_id == user_id))
        conn.execute(delete(users).where(users.c.id == user_id))


def issue_token(store: Store, name: str, *, expires_in: timedelta | None = None) -> str:
    """A new bearer token for ``name``, returned once; only its digest is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with store.engine.execution_options(sqlite_immediate=True).begin() as conn:
        user_id = conn.execute(select(users.c.id).where(users.c.name == name)).scalar()
        if user_id is None:
            raise UserError(f"no user named {name[:80]!r}")
        conn.execute(
            api_tokens.insert().values(
                token_hash=token_digest(token),
                user_id=user_id,
                created_at=now,
                expires_at=now + expires_in if expires_in is not None else None,
                last_used_at=None,
            )
        )
    return token


def check_password_login(store: Store, name: str, password: str) -> Account | None:
    """The enabled user ``name`` if ``password`` is theirs, else None (also for oversized or
    malformed input, which is refused before any hashing)."""
    if not name or len(name) > MAX_NAME_LENGTH or not password:
        return None
    if len(password) > MAX_PASSWORD_LENGTH:
        return None
    with store.engine.connect() as conn:
        row = conn.execute(
            select(users.c.password_hash, users.c.role, users.c.disabled).where(
                users.c.name == name
            )
        ).first()
    if row is None:
        verify_secret(password, _dummy_hash())
        return None
    if not verify_secret(password, row.password_hash) or row.disabled:
        return None
    return Account(name=name, role=row.role)


def check_token_login(store: Store, token: str) -> Account | None:
    """The enabled user holding the unexpired ``token``, else None; notes when it was used."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    now = datetime.now(UTC)
    digest = token_digest(token)
    with store.engine.connect() as conn:
        row = conn.execute(
            select(
                api_tokens.c.id,
                api_tokens.c.expires_at,
                api_tokens.c.last_used_at,
                users.c.name,
                users.c.role,
                users.c.disabled,
            )
            .join(users, users.c.id == api_tokens.c.user_id)
            .where(api_tokens.c.token_hash == digest)
        ).first()
    if row is None or row.disabled:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    if row.last_used_at is None or now - row.last_used_at >= _LAST_USED_GRANULARITY:
        try:
            with store.engine.execution_options(sqlite_immediate=True).begin() as conn:
                conn.execute(
                    update(api_tokens).where(api_tokens.c.id == row.id).values(last_used_at=now)
                )
        except SQLAlchemyError:  # bookkeeping only: a busy store must not refuse the login
            log.warning("could not record the use of a token of %s", row.name, exc_info=True)
    return Account(name=row.name, role=row.role)
