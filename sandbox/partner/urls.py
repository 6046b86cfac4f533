from django.urls import path

from sandbox.partner import views

urlpatterns = [path("<str:name>/hooks", views.hooks, name="sandbox_partner_hooks")]
