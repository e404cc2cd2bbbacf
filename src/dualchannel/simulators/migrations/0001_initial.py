"""The simulators' models, moved from ``integration`` by state only.

Their tables were created by ``integration`` 0001–0005 and keep their names (``db_table``), so a
fresh database and an existing one (with its simulator data) both end up the same; nothing is
created or copied here.
"""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("integration", "0005_simsettlement"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="SimAppCredential",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("app_id", models.CharField(max_length=64, unique=True)),
                        ("secret", models.CharField(max_length=128)),
                        ("active", models.BooleanField(default=True)),
                    ],
                    options={
                        "verbose_name": "模拟网关应用",
                        "verbose_name_plural": "模拟网关应用",
                        "db_table": "integration_simappcredential",
                    },
                ),
                migrations.CreateModel(
                    name="SimFault",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "mode",
                            models.CharField(
                                choices=[
                                    ("error", "返回 infcode -1（系统繁忙）"),
                                    ("timeout", "模拟超时（无应答）"),
                                ],
                                default="error",
                                max_length=10,
                            ),
                        ),
                        ("infno", models.CharField(blank=True, max_length=5)),
                        ("remaining", models.PositiveIntegerField(default=0)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                    ],
                    options={
                        "verbose_name": "模拟平台故障开关",
                        "verbose_name_plural": "模拟平台故障开关",
                        "db_table": "integration_simfault",
                    },
                ),
                migrations.CreateModel(
                    name="SimInstitutionKey",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("fixmedins_code", models.CharField(max_length=12, unique=True)),
                        ("sm2_public_key", models.CharField(max_length=130)),
                        ("sm4_key_hex", models.CharField(blank=True, max_length=32)),
                        ("require_signature", models.BooleanField(default=True)),
                    ],
                    options={
                        "verbose_name": "模拟平台机构密钥",
                        "verbose_name_plural": "模拟平台机构密钥",
                        "db_table": "integration_siminstitutionkey",
                    },
                ),
                migrations.CreateModel(
                    name="SimMessage",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("msgid", models.CharField(max_length=30, unique=True)),
                        ("infno", models.CharField(max_length=5)),
                        ("fixmedins_code", models.CharField(max_length=12)),
                        ("request_digest", models.CharField(max_length=64)),
                        ("response", models.JSONField(default=dict)),
                        ("received_at", models.DateTimeField(default=django.utils.timezone.now)),
                    ],
                    options={
                        "verbose_name": "模拟平台报文",
                        "verbose_name_plural": "模拟平台报文",
                        "db_table": "integration_simmessage",
                    },
                ),
                migrations.CreateModel(
                    name="SimRxAppKey",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("app_id", models.CharField(max_length=64, unique=True)),
                        ("sm2_public_key", models.CharField(max_length=130)),
                        ("sm4_key_hex", models.CharField(blank=True, max_length=32)),
                        ("require_signature", models.BooleanField(default=True)),
                    ],
                    options={
                        "verbose_name": "模拟电子处方中心应用密钥",
                        "verbose_name_plural": "模拟电子处方中心应用密钥",
                        "db_table": "integration_simrxappkey",
                    },
                ),
                migrations.CreateModel(
                    name="SimRxFault",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "mode",
                            models.CharField(
                                choices=[
                                    ("error", "返回 infcode -1（系统繁忙）"),
                                    ("timeout", "模拟超时（无应答）"),
                                ],
                                default="error",
                                max_length=10,
                            ),
                        ),
                        ("api", models.CharField(blank=True, max_length=40)),
                        ("remaining", models.PositiveIntegerField(default=0)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                    ],
                    options={
                        "verbose_name": "模拟电子处方中心故障开关",
                        "verbose_name_plural": "模拟电子处方中心故障开关",
                        "db_table": "integration_simrxfault",
                    },
                ),
                migrations.CreateModel(
                    name="SimSerial",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("name", models.CharField(max_length=40, unique=True)),
                        ("value", models.PositiveBigIntegerField(default=0)),
                    ],
                    options={
                        "verbose_name": "模拟平台序号",
                        "verbose_name_plural": "模拟平台序号",
                        "db_table": "integration_simserial",
                    },
                ),
                migrations.CreateModel(
                    name="SimSession",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("sign_no", models.CharField(max_length=30, unique=True)),
                        ("fixmedins_code", models.CharField(max_length=12)),
                        ("opter", models.CharField(max_length=30)),
                        ("signed_in_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("expires_at", models.DateTimeField()),
                        ("signed_out_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        "verbose_name": "模拟平台签到",
                        "verbose_name_plural": "模拟平台签到",
                        "db_table": "integration_simsession",
                    },
                ),
                migrations.CreateModel(
                    name="SimFiling",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("trt_dcla_detl_sn", models.CharField(max_length=30, unique=True)),
                        ("fixmedins_code", models.CharField(max_length=12)),
                        ("psn_no", models.CharField(max_length=30)),
                        ("insutype", models.CharField(max_length=6)),
                        ("opsp_dise_code", models.CharField(max_length=30)),
                        ("opsp_dise_name", models.CharField(max_length=300)),
                        ("begndate", models.DateField()),
                        ("enddate", models.DateField(blank=True, null=True)),
                        ("data", models.JSONField(default=dict)),
                        ("filed_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("cancelled_at", models.DateTimeField(blank=True, null=True)),
                        ("cancel_memo", models.CharField(blank=True, max_length=500)),
                    ],
                    options={
                        "verbose_name": "模拟平台备案",
                        "verbose_name_plural": "模拟平台备案",
                        "db_table": "integration_simfiling",
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(("cancelled_at__isnull", True)),
                                fields=("fixmedins_code", "psn_no", "opsp_dise_code", "begndate"),
                                name="uniq_sim_live_filing",
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="SimInventoryRecord",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("fixmedins_code", models.CharField(max_length=12)),
                        ("infno", models.CharField(max_length=5)),
                        ("inv_data_type", models.CharField(max_length=1)),
                        ("fixmedins_bchno", models.CharField(max_length=30)),
                        ("med_list_codg", models.CharField(blank=True, max_length=50)),
                        ("count", models.DecimalField(decimal_places=4, max_digits=16)),
                        ("trace_codes", models.JSONField(blank=True, default=list)),
                        ("request_digest", models.CharField(max_length=64)),
                        ("data", models.JSONField(default=dict)),
                        ("received_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("deleted_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        "verbose_name": "模拟平台进销存记录",
                        "verbose_name_plural": "模拟平台进销存记录",
                        "db_table": "integration_siminventoryrecord",
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(("deleted_at__isnull", True)),
                                fields=("fixmedins_code", "inv_data_type", "fixmedins_bchno"),
                                name="uniq_sim_live_inventory_record",
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="SimRx",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("hi_rxno", models.CharField(max_length=40, unique=True)),
                        ("rx_trace_code", models.CharField(max_length=40, unique=True)),
                        ("fixmedins_code", models.CharField(max_length=12)),
                        ("hosp_rxno", models.CharField(max_length=40)),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("checked", "已预核验（未上传）"),
                                    ("valid", "有效"),
                                    ("dispensed", "已取药"),
                                    ("expired", "已失效"),
                                    ("cancelled", "已撤销"),
                                ],
                                max_length=10,
                            ),
                        ),
                        ("data", models.JSONField(default=dict)),
                        ("data_digest", models.CharField(max_length=64)),
                        ("vali_end_time", models.DateTimeField()),
                        ("rx_file_digest", models.CharField(blank=True, max_length=64)),
                        ("sign_digest", models.TextField(blank=True)),
                        ("sign_cert_sn", models.CharField(blank=True, max_length=40)),
                        ("checked_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("signed_at", models.DateTimeField(blank=True, null=True)),
                        ("uploaded_at", models.DateTimeField(blank=True, null=True)),
                        ("upload_data", models.JSONField(blank=True, default=dict)),
                        ("cancelled_at", models.DateTimeField(blank=True, null=True)),
                        ("cancel_reason", models.CharField(blank=True, max_length=500)),
                        ("expired_at", models.DateTimeField(blank=True, null=True)),
                        ("review_fixmedins_code", models.CharField(blank=True, max_length=12)),
                        ("review_status", models.CharField(default="0", max_length=1)),
                        ("review", models.JSONField(blank=True, default=dict)),
                        ("reviewed_at", models.DateTimeField(blank=True, null=True)),
                        ("dispense_fixmedins_code", models.CharField(blank=True, max_length=12)),
                        ("dispense_lines", models.JSONField(blank=True, default=list)),
                        ("dispensed_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        "verbose_name": "模拟电子处方",
                        "verbose_name_plural": "模拟电子处方",
                        "db_table": "integration_simrx",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("fixmedins_code", "hosp_rxno"), name="uniq_sim_rx_hosp_rxno"
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="SimSettlement",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("setl_id", models.CharField(max_length=30, unique=True)),
                        ("mdtrt_id", models.CharField(max_length=30)),
                        ("fixmedins_code", models.CharField(max_length=12)),
                        ("fixmedins_setl_id", models.CharField(max_length=50)),
                        ("infno", models.CharField(max_length=5)),
                        ("clr_type", models.CharField(max_length=6)),
                        ("setl_optins", models.CharField(max_length=6)),
                        ("insutype", models.CharField(max_length=6)),
                        ("med_type", models.CharField(max_length=10)),
                        ("psn_no", models.CharField(max_length=30)),
                        ("medfee_sumamt", models.DecimalField(decimal_places=2, max_digits=16)),
                        ("fund_pay_sumamt", models.DecimalField(decimal_places=2, max_digits=16)),
                        ("hifp_pay", models.DecimalField(decimal_places=2, max_digits=16)),
                        ("hifmi_pay", models.DecimalField(decimal_places=2, max_digits=16)),
                        ("maf_pay", models.DecimalField(decimal_places=2, max_digits=16)),
                        ("oth_pay", models.DecimalField(decimal_places=2, max_digits=16)),
                        ("acct_pay", models.DecimalField(decimal_places=2, max_digits=16)),
                        ("psn_cash_pay", models.DecimalField(decimal_places=2, max_digits=16)),
                        ("request_digest", models.CharField(max_length=64)),
                        ("data", models.JSONField(default=dict)),
                        ("output", models.JSONField(default=dict)),
                        ("setl_time", models.DateTimeField(default=django.utils.timezone.now)),
                        ("reversed_at", models.DateTimeField(blank=True, null=True)),
                        ("reversal_setl_id", models.CharField(blank=True, max_length=30)),
                    ],
                    options={
                        "verbose_name": "模拟平台结算",
                        "verbose_name_plural": "模拟平台结算",
                        "db_table": "integration_simsettlement",
                        "indexes": [
                            models.Index(
                                fields=["fixmedins_code", "setl_time"],
                                name="integration_fixmedi_061ec4_idx",
                            )
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("fixmedins_code", "fixmedins_setl_id"),
                                name="uniq_sim_settlement_fixmedins_setl_id",
                            )
                        ],
                    },
                ),
            ],
        ),
    ]
