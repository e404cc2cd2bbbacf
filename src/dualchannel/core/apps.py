from django.apps import AppConfig
from django.conf import settings
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate
from django.utils.module_loading import autodiscover_modules


class CoreConfig(AppConfig):
    name = "dualchannel.core"
    label = "core"
    verbose_name = "平台核心"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Job handlers and periodic tasks live in each app's tasks.py (core.jobs).
        autodiscover_modules("tasks")

        if settings.LOCK_ORDER_CHECKS:
            from .locks import install

            install()
        from . import security  # noqa: F401  (stamps the login time for the session lifetime)
        from .pg_numbers import send_small_integers_as_text
        from .pg_timestamps import load_timestamps_in_utc
        from .refcache import on_post_migrate

        connection_created.connect(send_small_integers_as_text, dispatch_uid="core.pg_numbers")
        connection_created.connect(load_timestamps_in_utc, dispatch_uid="core.pg_timestamps")

        # once, after all apps' migrations: the reference tables' version triggers (refcache)
        post_migrate.connect(on_post_migrate, sender=self, dispatch_uid="core.refcache")
