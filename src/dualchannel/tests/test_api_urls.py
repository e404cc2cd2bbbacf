"""The API's URL patterns grouped by their first segment (``config.urls``) answer every path as
Ninja's flat list did: the same route, the same name, the same arguments (``api.urls`` makes
new view functions on every call: routes and names are what stay the same)."""

import re
from types import ModuleType

from django.urls import path, resolve, reverse

from dualchannel.config.api import api
from dualchannel.config.urls import BUSIEST_SEGMENTS, grouped_by_first_segment

SAMPLES = {"int": "12", "str": "abc", "path": "a/b", "slug": "a-b"}


def _example(route: str) -> tuple[str, dict[str, str]]:
    """A path the route matches, with the arguments it names."""
    kwargs: dict[str, str] = {}

    def fill(match: re.Match) -> str:
        kind, name = (match.group(1) or "str"), match.group(2)
        kwargs[name] = SAMPLES[kind]
        return SAMPLES[kind]

    return re.sub(r"<(?:(\w+):)?(\w+)>", fill, route), kwargs


def test_every_api_path_resolves_to_ninjas_own_view_and_name():
    flat, _, namespace = api.urls
    ungrouped = ModuleType("ungrouped_urls")  # Ninja's flat list, as it was included before
    ungrouped.urlpatterns = [path("api/v1/", api.urls)]
    assert len(flat) > 100
    seen = set()
    for pattern in flat:
        if str(pattern.pattern) in seen:  # a later pattern of the same route: never reached
            continue
        seen.add(str(pattern.pattern))
        example, kwargs = _example(str(pattern.pattern))
        found = resolve(f"/api/v1/{example}")
        assert found.route == f"api/v1/{pattern.pattern}", example
        assert (found.url_name, found.namespace) == (pattern.name, namespace), example
        assert {k: str(v) for k, v in found.kwargs.items()} == kwargs, example
        if pattern.name:  # a name some routers share (``me``) names the same path as before
            name = f"{namespace}:{pattern.name}"
            assert reverse(name, kwargs=kwargs) == reverse(name, ungrouped, kwargs=kwargs)


def test_the_counters_segments_come_first_and_every_pattern_is_kept_once():
    flat, app_name, namespace = api.urls
    nested, nested_app, nested_namespace = grouped_by_first_segment(api.urls)
    assert (nested_app, nested_namespace) == (app_name, namespace)
    assert [str(p.pattern) for p in nested[: len(BUSIEST_SEGMENTS)]] == [
        f"{segment}/" for segment in BUSIEST_SEGMENTS
    ]
    inner = [
        (f"{group.pattern}{p.pattern}" if p is not group else str(p.pattern), p.name)
        for group in nested
        for p in getattr(group, "url_patterns", [group])
    ]
    assert sorted(inner) == sorted((str(p.pattern), p.name) for p in flat)
