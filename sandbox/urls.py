"""The simulated external world, served under /sandbox/. Each simulator adds its own routes."""

urlpatterns = []
