from allauth.account.adapter import DefaultAccountAdapter

from tenants import services

PENDING_INVITATION_SESSION_KEY = "pending_invitation_token"


class AccountAdapter(DefaultAccountAdapter):
    """Signing up creates an agency owned by the new user, unless they came through an invitation."""

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        token = request.session.pop(PENDING_INVITATION_SESSION_KEY, None) if request else None
        invitation = services.invitation_get_open(token=token) if token else None
        if invitation and invitation.email.lower() == user.email.lower():
            services.invitation_accept(invitation=invitation, user=user)
        else:
            local_part = user.email.split("@")[0]
            services.agency_create_with_owner(name=f"{local_part}'s agency", owner=user)
        return user
