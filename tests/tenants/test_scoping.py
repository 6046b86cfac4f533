import pytest

from tenants.models import ActivityEntry
from tenants.scoping import ScopeError, all_tenants, tenant_scope
from tests.factories import ActivityEntryFactory

pytestmark = pytest.mark.django_db


def test_querying_a_tenant_owned_model_without_a_scope_raises(world):
    ActivityEntryFactory(tenant=world.tenant_a1)
    with pytest.raises(ScopeError):
        list(ActivityEntry.objects.all())
    with pytest.raises(ScopeError):
        ActivityEntry.objects.filter(action="test.event").count()
    with pytest.raises(ScopeError):
        ActivityEntry.objects.get(tenant=world.tenant_a1)


def test_a_scope_shows_only_its_tenants_rows(world):
    mine = ActivityEntryFactory(tenant=world.tenant_a1)
    ActivityEntryFactory(tenant=world.tenant_b1)
    with tenant_scope(world.tenant_a1):
        assert list(ActivityEntry.objects.all()) == [mine]
        # Even asking explicitly for another tenant's rows finds nothing.
        assert not ActivityEntry.objects.filter(tenant=world.tenant_b1).exists()


def test_a_scope_over_several_tenants_and_the_explicit_escape_hatch(world):
    ActivityEntryFactory(tenant=world.tenant_a1)
    ActivityEntryFactory(tenant=world.tenant_a2)
    ActivityEntryFactory(tenant=world.tenant_b1)
    with tenant_scope([world.tenant_a1, world.tenant_a2]):
        assert ActivityEntry.objects.count() == 2
    with tenant_scope([]):
        assert ActivityEntry.objects.count() == 0
    with all_tenants():
        assert ActivityEntry.objects.count() == 3


def test_a_scope_on_nothing_is_refused_instead_of_failing_open(world):
    with pytest.raises(ScopeError), tenant_scope(None):
        pass
