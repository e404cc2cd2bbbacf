from django.core.management.base import BaseCommand

from dualchannel.registry.regions import DATA_DIR, load_regions


class Command(BaseCommand):
    help = "载入全国省、地市、县级行政区划（国家统计局2023年统计用区划代码）；可重复运行。"

    def handle(self, *args, **options):
        result = load_regions(DATA_DIR)
        self.stdout.write(
            f"regions: {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged ({result.total} in file)"
        )
