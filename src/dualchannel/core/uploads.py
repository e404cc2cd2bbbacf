"""What an uploaded file really is: PDF, JPEG or PNG, recognised by its first bytes, proved by
opening it (a PDF must parse and have a page, an image must decode), and agreeing with what the
sender declared (its content type and its name's extension).

A file that starts with ``%PDF`` but is HTML, a PNG header on anything else, or a PDF named
``photo.png`` is refused: the stored file is shown to reviewers and agency officers later.
"""

from __future__ import annotations

import logging
from io import BytesIO

from PIL import Image
from pypdf import PdfReader

from .errors import DomainError

# (first bytes, type, stored extension, extensions a sender may use for it)
KINDS = (
    (b"%PDF", "application/pdf", "pdf", {"pdf"}),
    (b"\xff\xd8\xff", "image/jpeg", "jpg", {"jpg", "jpeg", "jpe", "jfif"}),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png", {"png"}),
)
LABELS = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG"}
# Names browsers and scanners use for the same types.
TYPE_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "application/x-pdf": "application/pdf",
    "image/x-png": "image/png",
}
# "I do not know": the type is then taken from the content alone.
UNDECLARED = {"", "application/octet-stream", "binary/octet-stream", "application/unknown"}
# Markup in the head of a file makes it a document a browser would run, whatever else it is.
MARKUP = (b"<html", b"<!doctype", b"<script", b"<body", b"<svg", b"<iframe", b"<?xml")
HEAD_BYTES = 1024


def sniff(content: bytes) -> tuple[str, str] | None:
    """The type and stored extension from the first bytes, or None."""
    for magic, mime, extension, _ in KINDS:
        if content.startswith(magic):
            return mime, extension
    return None


def _opens(content: bytes, mime: str) -> bool:
    """Whether the file really is a ``mime``: parsed by a PDF reader or decoded as an image."""
    try:
        if mime == "application/pdf":
            # pypdf warns through logging about every oddity of real-world scans; keep quiet
            logging.getLogger("pypdf").setLevel(logging.ERROR)
            return len(PdfReader(BytesIO(content), strict=False).pages) > 0

        with Image.open(BytesIO(content)) as image:
            expected = {"image/jpeg": "JPEG", "image/png": "PNG"}[mime]
            if image.format != expected:
                return False
            image.load()  # decodes every pixel: a header on anything else fails here
        return True
    except Exception:
        return False


def _extension(filename: str) -> str:
    name = (filename or "").strip().rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def checked_upload(
    content: bytes,
    *,
    filename: str = "",
    declared_type: str = "",
    code: str,
    field: str = "file",
) -> tuple[str, str]:
    """The file's type and stored extension; anything else raises DomainError(code)."""

    def refuse(message: str) -> DomainError:
        return DomainError(code, message, fields={field: [message]})

    found = sniff(content)
    if found is None:
        raise refuse("仅支持 PDF、JPEG、PNG 文件")
    mime, extension = found
    label = LABELS[mime]
    if any(marker in content[:HEAD_BYTES].lower() for marker in MARKUP) or not _opens(
        content, mime
    ):
        raise refuse(f"文件内容不是有效的 {label}（无法打开或含有网页代码）")
    declared = (declared_type or "").split(";", 1)[0].strip().lower()
    declared = TYPE_ALIASES.get(declared, declared)
    if declared not in UNDECLARED and declared != mime:
        raise refuse(f"文件内容为 {label}，与声明的类型不一致")
    allowed = next(names for _, m, _, names in KINDS if m == mime)
    suffix = _extension(filename)
    # an extension of another type (.html, .gif, .exe); a name like "报告.2024" has none
    if suffix.isascii() and suffix.isalpha() and suffix not in allowed:
        raise refuse(f"文件内容为 {label}，与文件扩展名 .{suffix} 不一致")
    return mime, extension
