from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "dualchannel.registry"
    label = "registry"
    verbose_name = "定点与参保登记"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dualchannel.core import refcache

        # reference data the counter reads on every request, cached per worker (core.refcache):
        # the profiles, the designations, the pharmacist at the counter and the institutions
        # (officers' and administrators' writes only); the regions, reloaded by a command only,
        # version the public query's answers (public_cache)
        refcache.watch(
            self.get_model("PolicyProfile"),
            self.get_model("Designation"),
            self.get_model("Region"),
            self.get_model("Pharmacist"),
            self.get_model("Institution"),
        )
