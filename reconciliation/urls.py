"""Reconciliation web pages, per tenant."""

from django.urls import path

from reconciliation import views

app_name = "reconciliation"

urlpatterns = [
    path("tenants/<int:tenant_id>/", views.runs, name="runs"),
    path("tenants/<int:tenant_id>/run/", views.run_now, name="run_now"),
    path("tenants/<int:tenant_id>/runs/<int:pk>/", views.report, name="report"),
    path("tenants/<int:tenant_id>/runs/<int:pk>/csv/", views.report_csv, name="csv"),
    path("tenants/<int:tenant_id>/runs/<int:pk>/act/", views.act, name="act"),
]
