from django.urls import path

from . import regional_lists_views, views

urlpatterns = [
    path(
        "agency/catalog/regional-lists/",
        regional_lists_views.regional_lists,
        name="agency-regional-lists",
    ),
    path(
        "agency/catalog/regional-lists/import/",
        regional_lists_views.regional_list_import_view,
        name="agency-regional-list-import",
    ),
    path(
        "agency/catalog/regional-lists/<int:list_id>/",
        regional_lists_views.regional_list_detail,
        name="agency-regional-list",
    ),
    path("agency/catalog/", views.catalog_search, name="agency-catalog"),
    path("agency/catalog/<int:drug_id>/", views.drug_detail, name="agency-drug"),
    path("agency/catalog/<int:drug_id>/flags/", views.drug_flags, name="agency-drug-flags"),
    path(
        "agency/catalog/<int:drug_id>/criteria/new/",
        views.criteria_new_draft,
        name="agency-criteria-new",
    ),
    path(
        "agency/catalog/criteria/<int:set_id>/settings/",
        views.criteria_settings,
        name="agency-criteria-settings",
    ),
    path(
        "agency/catalog/criteria/<int:set_id>/items/",
        views.criterion_add,
        name="agency-criterion-add",
    ),
    path(
        "agency/catalog/criteria/<int:set_id>/publish/",
        views.criteria_publish,
        name="agency-criteria-publish",
    ),
    path(
        "agency/catalog/criteria/<int:set_id>/retire/",
        views.criteria_retire,
        name="agency-criteria-retire",
    ),
    path(
        "agency/catalog/criteria-items/<int:item_id>/",
        views.criterion_edit,
        name="agency-criterion-edit",
    ),
    path(
        "agency/catalog/criteria-items/<int:item_id>/delete/",
        views.criterion_delete,
        name="agency-criterion-delete",
    ),
    path(
        "agency/catalog/criteria-items/<int:item_id>/move/<str:direction>/",
        views.criterion_move,
        name="agency-criterion-move",
    ),
    path(
        "agency/catalog/payment-standards/<int:standard_id>/amount/",
        views.standard_amount,
        name="agency-standard-amount",
    ),
]
