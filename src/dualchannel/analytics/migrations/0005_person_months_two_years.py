# Written by hand on 2026-12-04: Django cannot alter a generated column's expression, so
# ``months`` is dropped and added again over the 24 month columns.

from django.db import migrations, models

MONTHS = tuple(f"m{month:02d}" for month in range(1, 13))
PREVIOUS = tuple(f"p{month:02d}" for month in range(1, 13))
MODELS = ("areapersonyear", "areadrugpersonyear")
KEYS = {
    "analytics_areapersonyear": ("area", "year", "insurance_type", "person_id"),
    "analytics_areadrugpersonyear": ("area", "year", "drug_key", "person_id"),
}


def months_mask() -> models.Expression:
    """Bit n set when the n-th of m01 … m12, p01 … p12 is above zero (models._months_mask)."""
    mask = None
    for bit, column in enumerate(MONTHS + PREVIOUS):
        term = models.Case(
            models.When(**{f"{column}__gt": 0}, then=models.Value(1 << bit)),
            default=models.Value(0),
        )
        mask = term if mask is None else mask + term
    return mask


def previous_year_columns(model_name: str) -> list:
    label = "上年{}月结算人次"
    return [
        migrations.AddField(
            model_name=model_name,
            name=column,
            field=models.IntegerField(default=0, verbose_name=label.format(n)),
        )
        for n, column in enumerate(PREVIOUS, start=1)
    ]


def fill(apps, schema_editor):
    """Each row's months into the same person's row of the next year (created if need be) as
    that row's previous year."""
    quote = schema_editor.connection.ops.quote_name
    for table, key in KEYS.items():
        keys = ", ".join(key)
        rest = ", ".join(k for k in key if k not in ("area", "year"))
        zeros = ", ".join("0" for _ in MONTHS)
        served = " OR ".join(f"{m} <> 0" for m in MONTHS)
        sets = ", ".join(f"{p} = excluded.{p}" for p in PREVIOUS)
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {quote(table)} ({keys}, {', '.join(MONTHS + PREVIOUS)}) "
                f"SELECT area, year + 1, {rest}, {zeros}, "
                f"{', '.join(MONTHS)} FROM {quote(table)} WHERE {served} "
                f"ON CONFLICT ({keys}) DO UPDATE SET {sets}"
            )


class Migration(migrations.Migration):
    dependencies = [("analytics", "0004_person_months")]

    operations = [
        *(field for name in MODELS for field in previous_year_columns(name)),
        *(migrations.RemoveField(model_name=name, name="months") for name in MODELS),
        migrations.RunPython(fill, migrations.RunPython.noop),
        *(
            migrations.AddField(
                model_name=name,
                name="months",
                field=models.GeneratedField(
                    db_persist=True,
                    expression=months_mask(),
                    output_field=models.IntegerField(verbose_name="就诊月份"),
                ),
            )
            for name in MODELS
        ),
    ]
