from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from core.errors import ApplicationError
from tenants import selectors, services
from tenants.access import principal_for_user
from tenants.adapters import PENDING_INVITATION_SESSION_KEY


@login_required
def home(request):
    """The agency home: its tenants, each with a status column that later capabilities fill in."""
    principal = principal_for_user(request.user, agency_id=request.session.get("agency_id"))
    tenants = selectors.tenant_list(principal=principal) if principal else []
    return render(request, "tenants/home.html", {"principal": principal, "tenants": tenants})


def invitation_accept(request, token):
    """The sign-up link from an invitation email."""
    invitation = services.invitation_get_open(token=token)
    if invitation is None:
        return render(request, "tenants/invitation_invalid.html", status=404)
    if not request.user.is_authenticated:
        request.session[PENDING_INVITATION_SESSION_KEY] = token
        messages.info(request, f"Create your account with {invitation.email} to join {invitation.agency.name}.")
        return redirect(f"/accounts/signup/?email={invitation.email}")
    try:
        services.invitation_accept(invitation=invitation, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("home")
    request.session["agency_id"] = invitation.agency_id
    messages.success(request, f"You joined {invitation.agency.name}.")
    return redirect("home")
