"""The simulators' models moved to the ``simulators`` app (state only: their tables stay).

Where ``simulators`` is installed (demo, tests) its 0001 takes the tables over; in production the
app is not installed and the ``integration_sim*`` tables are left unused.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("integration", "0005_simsettlement"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(
                    name="SimAppCredential",
                ),
                migrations.DeleteModel(
                    name="SimFault",
                ),
                migrations.DeleteModel(
                    name="SimFiling",
                ),
                migrations.DeleteModel(
                    name="SimInstitutionKey",
                ),
                migrations.DeleteModel(
                    name="SimInventoryRecord",
                ),
                migrations.DeleteModel(
                    name="SimMessage",
                ),
                migrations.DeleteModel(
                    name="SimRx",
                ),
                migrations.DeleteModel(
                    name="SimRxAppKey",
                ),
                migrations.DeleteModel(
                    name="SimRxFault",
                ),
                migrations.DeleteModel(
                    name="SimSerial",
                ),
                migrations.DeleteModel(
                    name="SimSession",
                ),
                migrations.DeleteModel(
                    name="SimSettlement",
                ),
            ],
        ),
    ]
