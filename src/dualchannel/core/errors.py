"""One error type for every domain failure: a machine code, a message in Chinese, field details.

The API renders it as ``{"error": {"code", "message", "fields"}}``; pages show the message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class DomainError(Exception):
    """A refused business action. ``code`` is stable for programs; ``message`` is for people."""

    status = 400

    def __init__(
        self,
        code: str,
        message: str,
        *,
        fields: Mapping[str, Sequence[str]] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fields = {name: list(msgs) for name, msgs in (fields or {}).items()}
        if status is not None:
            self.status = status

    def as_dict(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "fields": self.fields}}


class NotFound(DomainError):
    status = 404

    def __init__(self, code: str = "not_found", message: str = "对象不存在或无权访问") -> None:
        # An object outside the actor's scope is reported exactly like a missing one.
        super().__init__(code, message)


class PermissionDenied(DomainError):
    status = 403

    def __init__(self, code: str = "permission_denied", message: str = "无权执行此操作") -> None:
        super().__init__(code, message)


class Conflict(DomainError):
    status = 409


def field_error(field: str, code: str, message: str) -> DomainError:
    """A single invalid field, e.g. an ID number whose check digit is wrong."""
    return DomainError(code, message, fields={field: [message]})
