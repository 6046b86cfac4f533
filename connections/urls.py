"""Web pages for connections: the OAuth redirect flow and the tenant's connection pages."""

urlpatterns = []
