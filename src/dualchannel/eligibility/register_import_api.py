"""JSON API of the import of a region's existing eligibility register (mounted at
/api/v1/eligibility) [HB art. 49]: a dry run that lists every row's problem, and the import,
all or nothing. Agency officers only; the service checks role and region."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Field, File, Router, Schema, UploadedFile
from ninja.responses import Status

from dualchannel.core.auth import api_auth

from .services import register_import

router = Router(tags=["eligibility"], auth=api_auth)


class ProblemOut(Schema):
    row: int = Field(..., description="文件行号（表头为第1行）")
    field: str
    code: str
    message: str


class RowOut(Schema):
    row: int
    drug: str
    hospital: str
    effective_from: str
    new_person: bool


class CheckOut(Schema):
    ok: bool = Field(..., description="全部行无误，可以导入")
    rows: list[RowOut]
    problems: list[ProblemOut]
    new_persons: int


class ImportOut(Schema):
    import_no: str
    rows: int
    persons_created: int


def _content(file: UploadedFile) -> bytes:
    return file.read(register_import.MAX_BYTES + 1)


def check_payload(report: register_import.Report) -> dict:
    return {
        "ok": report.ok,
        "rows": [
            {
                "row": r.row,
                "drug": r.drug.generic_name,
                "hospital": r.hospital.name,
                "effective_from": r.effective_from.isoformat(),
                "new_person": r.person is None,
            }
            for r in report.rows
        ],
        "problems": [vars(p) for p in report.problems],
        "new_persons": report.new_persons,
    }


@router.post(
    "/register-imports/check",
    response=CheckOut,
    summary=("既有用药资格导入：试导入（逐行列出问题，不写入）（鄂医保发〔2023〕35号 第四十九条）"),
)
def register_import_check(request: HttpRequest, file: UploadedFile = File(...)):  # noqa: B008
    report = register_import.register_import_check(
        actor=request.auth, content=_content(file), filename=file.name or ""
    )
    return check_payload(report)


@router.post(
    "/register-imports",
    response={201: ImportOut},
    summary=(
        "既有用药资格导入：全部无误才导入，否则不写入任何数据（鄂医保发〔2023〕35号 第四十九条）"
    ),
)
def register_import_run(
    request: HttpRequest,
    file: UploadedFile = File(...),  # noqa: B008
):
    batch = register_import.register_import(
        actor=request.auth, content=_content(file), filename=file.name or ""
    )
    return Status(
        201,
        {
            "import_no": batch.import_no,
            "rows": batch.rows,
            "persons_created": batch.persons_created,
        },
    )
