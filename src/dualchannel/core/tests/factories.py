from __future__ import annotations

import factory

from dualchannel.core.models import RoleGrant

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
