from django.core.management.base import BaseCommand, CommandError

from dualchannel.core.errors import DomainError
from dualchannel.registry.profiles import PROFILES_FILE, load_profiles


class Command(BaseCommand):
    help = "按 data/policy_profiles.json 载入或更新安徽、湖北、山东、楚雄的政策参数；可重复运行。"

    def handle(self, *args, **options):
        try:
            result = load_profiles(PROFILES_FILE)
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(
            f"policy profiles: {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged"
        )
