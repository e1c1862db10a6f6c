from django import template

register = template.Library()


@register.filter
def pct(value) -> str:
    try:
        return f"{100 * float(value):.1f}%"
    except (TypeError, ValueError):
        return ""
