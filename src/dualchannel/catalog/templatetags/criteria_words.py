from django import template

from dualchannel.catalog.words import expression_in_words

register = template.Library()


@register.filter
def in_words(expression: str) -> str:
    """A criterion's expression in Chinese, or an empty string where it is not said (words.py)."""
    return expression_in_words(expression) or ""
