from django.http import HttpRequest

from .roles import Role


def portal(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    roles = user.role_set if user is not None and user.is_authenticated else frozenset()
    return {
        "user_roles": roles,
        "role_labels": [label for value, label in Role.choices if value in roles],
        "is_agency": Role.AGENCY_OFFICER in roles,
    }
