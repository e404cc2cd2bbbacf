from __future__ import annotations

import factory
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from dualchannel.core.models import RoleGrant
from dualchannel.core.security import second_factor_required

PASSWORD = "Dual-channel-2026"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "core.User"
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    display_name = factory.Sequence(lambda n: f"用户{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        for role in extracted or []:
            RoleGrant.objects.create(user=self, role=role)
        self.save()

    @factory.post_generation
    def otp_device(self, create, extracted, **kwargs):
        """Officers and administrators get a confirmed authenticator (``otp_device=False``: none),
        as after enrolment; ``totp_code(user)`` reads its current code."""
        if not create or extracted is False:
            return
        if extracted or second_factor_required(self):
            TOTPDevice.objects.create(user=self, name="测试身份验证器", confirmed=True)
        self.__dict__.pop("_role_cache", None)  # roles may still be granted after creation


def totp_code(user) -> str:
    """The current code of the user's authenticator, as the phone app would show it."""
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"
