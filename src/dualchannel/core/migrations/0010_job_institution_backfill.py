"""Jobs queued before 0009 carry no institution, so only administrators saw them when they failed:
fill it in from each kind's business row, as the kinds' ``institution_of`` does (historical models;
a job whose row is gone stays without one). Jobs already done are left as they are."""

from django.db import migrations

# kind -> (app, model, payload key, the row's institution column)
KINDS = {
    "integration.filing": ("integration", "PlatformFiling", "filing_id", "institution_id"),
    "settlement.upload": ("settlement", "Settlement", "settlement_id", "institution_id"),
    "settlement.upload_reversal": ("settlement", "Settlement", "settlement_id", "institution_id"),
    "inventory.upload": ("inventory", "StockMovement", "movement_id", "pharmacy_id"),
}


def _rx_centre_institution(apps, submission_id):
    submission = apps.get_model("prescriptions", "RxCentreSubmission")
    dispensing = apps.get_model("prescriptions", "Dispensing")
    found = submission.objects.filter(pk=submission_id).select_related("prescription").first()
    if found is None:
        return None
    pharmacy = dispensing.objects.filter(prescription_id=found.prescription_id)
    return pharmacy.values_list("pharmacy_id", flat=True).first() or found.prescription.hospital_id


def backfill(apps, schema_editor):
    job_model = apps.get_model("core", "Job")
    waiting = job_model.objects.filter(institution__isnull=True).exclude(status="done")
    for job in waiting.iterator():
        institution_id = None
        if job.kind == "prescriptions.rx_centre":
            institution_id = _rx_centre_institution(apps, job.payload.get("submission_id"))
        elif job.kind in KINDS:
            app, model, key, column = KINDS[job.kind]
            rows = apps.get_model(app, model).objects.filter(pk=job.payload.get(key))
            institution_id = rows.values_list(column, flat=True).first()
        if institution_id is not None:
            job_model.objects.filter(pk=job.pk).update(institution_id=institution_id)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0009_job_institution"),
        ("integration", "0007_platformfiling_claimed_by"),
        ("settlement", "0004_claim_reason_cross_province"),
        ("inventory", "0004_stockitem_purchase_price"),
        ("prescriptions", "0004_rx_centre_claim"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
