"""Mapping endpoints under /api/v1/tenants/{tenant_id}/mappings/…"""

from django.urls import path

from mappings.api import views
from tenants.api.urls import Router

PREFIX = "tenants/<int:tenant_id>/mappings"

router = Router()
router.register(f"{PREFIX}/taxes", views.TaxMappingViewSet, basename="mapping-tax")
router.register(f"{PREFIX}/account-rules", views.AccountRuleViewSet, basename="mapping-account-rule")
router.register(f"{PREFIX}/payment-accounts", views.PaymentAccountMappingViewSet, basename="mapping-payment-account")
router.register(f"{PREFIX}/tracking", views.TrackingMappingViewSet, basename="mapping-tracking")
router.register(f"{PREFIX}/items", views.ItemMappingViewSet, basename="mapping-item")
router.register(f"{PREFIX}/contact-policies", views.ContactPolicyViewSet, basename="mapping-contact-policy")
router.register(f"{PREFIX}/posting-policies", views.PostingPolicyViewSet, basename="mapping-posting-policy")
router.register(f"{PREFIX}/field-transforms", views.FieldTransformViewSet, basename="mapping-field-transform")
router.register(f"{PREFIX}/source-values", views.SourceValueViewSet, basename="mapping-source-value")
router.register(f"{PREFIX}/suggestions", views.MappingSuggestionViewSet, basename="mapping-suggestion")

urlpatterns = [
    path(f"{PREFIX}/health/", views.MappingHealthView.as_view(), name="mapping-health"),
    path(f"{PREFIX}/preview/", views.InvoicePreviewView.as_view(), name="mapping-preview"),
    *router.urls,
]
