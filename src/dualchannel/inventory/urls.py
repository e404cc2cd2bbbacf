from django.urls import path

from . import views

urlpatterns = [
    path("agency/coverage/", views.agency_coverage, name="agency-coverage"),
    path("pharmacy/stock/", views.stock_home, name="inventory-stock"),
    path("pharmacy/stock/receive/", views.stock_receive_page, name="inventory-stock-receive"),
    path(
        "pharmacy/stock/<int:stock_item_id>/return/",
        views.stock_supplier_return_page,
        name="inventory-stock-return",
    ),
    path(
        "pharmacy/stock/<int:stock_item_id>/stocktake/",
        views.stock_stocktake_page,
        name="inventory-stock-stocktake",
    ),
]
