"""Layout checks shared by the browser tests: a form's labels clear of the controls they do not
hold (issue 12, point 9)."""

from __future__ import annotations

CONTROLS = "input:not([type=hidden]), select, textarea, button"


def overlaps(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def shown_box(element) -> dict | None:
    """The element's box if it is drawn (a closed <details> keeps a box for what it hides)."""
    if not element.evaluate("el => el.checkVisibility({contentVisibilityAuto: true})"):
        return None
    box = element.bounding_box()
    return box if box and box["width"] and box["height"] else None


def assert_labels_clear(page) -> None:
    """No visible form label's box overlaps a control that is not inside the label."""
    controls = page.locator(CONTROLS)
    boxes = [shown_box(controls.nth(m)) for m in range(controls.count())]
    labels = page.locator("label")
    for n in range(labels.count()):
        label = labels.nth(n)
        box = shown_box(label)
        if box is None:
            continue
        # which controls the label holds, in the locator's (document) order
        held = label.evaluate(
            "(l, sel) => Array.from(document.querySelectorAll(sel)).map(c => l.contains(c))",
            CONTROLS,
        )
        for m, control_box in enumerate(boxes):
            if held[m] or control_box is None:
                continue
            assert not overlaps(box, control_box), (
                label.evaluate("el => el.outerHTML.slice(0, 300)"),
                controls.nth(m).evaluate("el => el.outerHTML.slice(0, 120)"),
            )
