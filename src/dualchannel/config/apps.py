from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    """django.contrib.admin whose default site demands the second factor (core.security)."""

    default_site = "dualchannel.core.security.SecondFactorAdminSite"
