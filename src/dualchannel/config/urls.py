from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from .api import api

admin.site.site_header = "双通道管理平台 · 后台"
admin.site.site_title = "双通道管理平台"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("", include("dualchannel.core.urls")),
    path("", include("dualchannel.catalog.urls")),
    path("", include("dualchannel.registry.urls")),
    path("", include("dualchannel.notifications.urls")),
    path("", include("dualchannel.documents.urls")),
    path("", include("dualchannel.integration.urls")),
    path("", include("dualchannel.payments.urls")),
    path("", include("dualchannel.portal.urls")),
    path("", include("dualchannel.eligibility.urls")),
    path("", include("dualchannel.prescriptions.urls")),
    path("", include("dualchannel.inventory.urls")),
    path("", include("dualchannel.settlement.urls")),
    path("", include("dualchannel.monitoring.urls")),
    path("", include("dualchannel.analytics.urls")),
    path("", include("dualchannel.complaints.urls")),
    path("", include("dualchannel.inspection.urls")),
]
# The simulators (no login, no CSRF) exist only where they are installed: demo and tests.
if settings.SIMULATORS_ENABLED:
    urlpatterns.append(path("", include("dualchannel.simulators.urls")))

handler404 = "dualchannel.core.views.not_found"
