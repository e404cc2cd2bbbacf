from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo region (``manage.py demo_load``): Wuhan under the Hubei rules, a login per role.

    The top floor: it seeds every app through their services, and no app imports it. Installed
    always: it has no models, pages or ``ready()``, and Django imports only this package at
    start-up; ``demo_load`` refuses to run outside DEMO_MODE/DEBUG unless told ``--force``.
    """

    name = "dualchannel.demo"
    label = "demo"
    verbose_name = "演示数据"
