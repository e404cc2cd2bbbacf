"""Smart-monitoring detectors over stock movements and traceability codes [CX art. 14(3),
SD §9, HB art. 47]: a code sold twice, codes sold before (or without) being received, and batches
whose sales exceed what was ever received. Handed down to ``monitoring.engine`` by
``apps.InventoryConfig.ready``; evidence holds ids, codes and counts only."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from django.utils import timezone

from dualchannel.monitoring.engine import Finding, Scope

from .models import MovementKind, MovementTraceCode, StockMovement

K = MovementKind
EVIDENCE_IDS_MAX = 50


def _links(scope: Scope):
    """Sale, return and receipt links of codes of the region's pharmacies, oldest first."""
    return (
        MovementTraceCode.objects.filter(movement__pharmacy__region__code__startswith=scope.prefix)
        .values_list(
            "trace_code_id",
            "trace_code__code",
            "movement_id",
            "movement__kind",
            "movement__occurred_at",
            "movement__pharmacy_id",
        )
        .order_by("movement__occurred_at", "movement_id")
    )


def _in_period(scope: Scope, moment) -> bool:
    day: date = timezone.localtime(moment).date()
    return scope.start <= day <= scope.end


def _by_code(scope: Scope) -> dict[int, list[tuple]]:
    found: dict[int, list[tuple]] = defaultdict(list)
    for code_id, code, movement, kind, at, pharmacy in _links(scope):
        found[code_id].append((code, movement, kind, at, pharmacy))
    return found


def trace_code_resold(scope: Scope) -> list[Finding]:
    """A code sold ``min_sales`` times or more, net of sale returns, one sale in the period."""
    wanted = max(int(scope.params.get("min_sales", 2)), 2)
    findings = []
    for code_id, links in sorted(_by_code(scope).items()):
        sales = [x for x in links if x[2] == K.SALE]
        returns = [x for x in links if x[2] == K.SALE_RETURN]
        if len(sales) - len(returns) < wanted or not any(_in_period(scope, x[3]) for x in sales):
            continue
        findings.append(
            Finding(
                sales[-1][4],
                ("inventory.TraceCode", code_id),
                {
                    "trace_code": sales[-1][0],
                    "sale_count": len(sales),
                    "return_count": len(returns),
                    "movement_ids": [x[1] for x in sales][:EVIDENCE_IDS_MAX],
                    "pharmacy_ids": sorted({x[4] for x in sales}),
                },
            )
        )
    return findings


def trace_code_out_of_sequence(scope: Scope) -> list[Finding]:
    """Per pharmacy, codes sold in the period before any receipt of them (or never received):
    ``min_codes`` or more."""
    wanted = max(int(scope.params.get("min_codes", 1)), 1)
    per_pharmacy: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for links in _by_code(scope).values():
        sales = [x for x in links if x[2] == K.SALE]
        if not sales or not _in_period(scope, sales[0][3]):
            continue
        first_sale = sales[0]
        received = [x for x in links if x[2] == K.PURCHASE and x[4] == first_sale[4]]
        if received and received[0][3] <= first_sale[3]:
            continue
        per_pharmacy[first_sale[4]].append((first_sale[0], first_sale[1]))
    findings = []
    for pharmacy, codes in sorted(per_pharmacy.items()):
        if len(codes) < wanted:
            continue
        findings.append(
            Finding(
                pharmacy,
                ("pharmacy_month", f"{pharmacy}:{scope.start:%Y-%m}"),
                {
                    "trace_codes": sorted(c[0] for c in codes)[:EVIDENCE_IDS_MAX],
                    "code_count": len(codes),
                    "movement_ids": sorted(c[1] for c in codes)[:EVIDENCE_IDS_MAX],
                },
            )
        )
    return findings


def _balances(scope: Scope) -> dict[int, dict[str, int]]:
    """Per batch sold in the period: boxes received (net of supplier returns), sold (net of
    sale returns) and adjusted by stocktakes, over its whole life up to the period's end."""
    sold_items = StockMovement.objects.filter(
        pharmacy__region__code__startswith=scope.prefix,
        kind=K.SALE,
        occurred_at__date__gte=scope.start,
        occurred_at__date__lte=scope.end,
    ).values_list("stock_item_id", flat=True)
    rows = StockMovement.objects.filter(
        stock_item_id__in=set(sold_items), occurred_at__date__lte=scope.end
    ).values_list("stock_item_id", "kind", "quantity_delta", "pharmacy_id", "stock_item__drug_id")
    found: dict[int, dict[str, int]] = {}
    for item, kind, delta, pharmacy, drug in rows:
        entry = found.setdefault(
            item, {"received": 0, "sold": 0, "adjusted": 0, "pharmacy": pharmacy, "drug": drug}
        )
        if kind in (K.PURCHASE, K.PURCHASE_RETURN):
            entry["received"] += delta
        elif kind in (K.SALE, K.SALE_RETURN):
            entry["sold"] -= delta
        else:
            entry["adjusted"] += delta
    return found


def stock_unbalanced(scope: Scope) -> list[Finding]:
    """A batch that sold more boxes than it ever received by more than ``tolerance_boxes``
    (sales without receipts) [SD §9, CX art. 14(3)]."""
    tolerance = int(scope.params.get("tolerance_boxes", 0))
    findings = []
    for item, b in sorted(_balances(scope).items()):
        if b["sold"] <= b["received"] + tolerance:
            continue
        findings.append(
            Finding(
                b["pharmacy"],
                ("inventory.StockItem", item),
                {
                    "stock_item_id": item,
                    "drug_id": b["drug"],
                    "received": b["received"],
                    "sold": b["sold"],
                    "adjusted": b["adjusted"],
                },
            )
        )
    return findings


def sold_boxes(scope: Scope, pharmacy_drugs: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """(pharmacy, drug) → boxes that left the pharmacy's stock by sale in the period (net)."""
    rows = StockMovement.objects.filter(
        pharmacy__region__code__startswith=scope.prefix,
        kind__in=(K.SALE, K.SALE_RETURN),
        occurred_at__date__gte=scope.start,
        occurred_at__date__lte=scope.end,
        pharmacy_id__in={p for p, _ in pharmacy_drugs},
    ).values_list("pharmacy_id", "stock_item__drug_id", "quantity_delta")
    found: dict[tuple[int, int], int] = defaultdict(int)
    for pharmacy, drug, delta in rows:
        found[(pharmacy, drug)] -= delta
    return dict(found)


DETECTORS = {
    "trace_code_resold": trace_code_resold,
    "trace_code_out_of_sequence": trace_code_out_of_sequence,
    "stock_unbalanced": stock_unbalanced,
}
