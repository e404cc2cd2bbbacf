"""Small real files for upload tests: uploads are opened (core.uploads), so a magic number
followed by zeros is no longer a PDF or an image."""

from __future__ import annotations

from io import BytesIO

from PIL import Image
from reportlab.pdfgen import canvas


def _pdf() -> bytes:
    out = BytesIO()
    page = canvas.Canvas(out, invariant=1)  # invariant: the same bytes on every run
    page.drawString(72, 720, "scan")
    page.save()
    return out.getvalue()


def _image(fmt: str) -> bytes:
    out = BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, fmt)
    return out.getvalue()


PDF = _pdf()
PNG = _image("PNG")
JPEG = _image("JPEG")
# Starts like a PDF, is a web page: refused.
HTML_AS_PDF = b"%PDF-1.4\n<html><body><script>alert(1)</script></body></html>\n%%EOF\n"
