from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "dualchannel.catalog"
    label = "catalog"
    verbose_name = "药品目录"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dualchannel.core import refcache

        # reference data the counter reads on every request, cached per worker (core.refcache);
        # the drugs (written by the catalogue's loads and the agency's edits) version the public
        # query's answers (registry.public_cache)
        refcache.watch(
            *(
                self.get_model(name)
                for name in (
                    "Drug",
                    "PaymentStandard",
                    "RegionalList",
                    "RegionalListEntry",
                    "CriteriaSet",
                    "Criterion",
                )
            )
        )
