"""HTTP endpoints for orders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from zhibo.kit.api import ALL_ROLES, DB, ERROR_RESPONSES, require
from zhibo.kit.auth import Principal
from zhibo.kit.pagination import Page
from zhibo.models import Role
from zhibo.models.order import OrderStatus
from zhibo.orders import service
from zhibo.orders.schemas import OrderCreate, OrderOut, RefundCreate

router = APIRouter(prefix="/v1", tags=["orders"], responses=ERROR_RESPONSES)

Cursor = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int, Query(ge=1, le=500)]
Anyone = Annotated[Principal, Depends(require(*ALL_ROLES))]
Buyers = Annotated[Principal, Depends(require(Role.OPERATOR, Role.VIEWER))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]


@router.get("/orders", response_model=Page[OrderOut])
def list_orders(
    db: DB,
    principal: Anyone,
    cursor: Cursor = None,
    limit: Limit = 50,
    status: OrderStatus | None = None,
    session_id: int | None = None,
) -> Page[OrderOut]:
    rows, next_cursor = service.list_orders(db, principal, cursor, limit, status, session_id)
    return Page(items=service.present(db, rows), next_cursor=next_cursor)


@router.post("/orders", response_model=OrderOut, status_code=201)
def place_order(
    db: DB,
    principal: Buyers,
    body: OrderCreate,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=100,
            description=(
                "Optional, unique per buyer: a retry with the same key and the same order "
                "returns the order already placed (header `Idempotent-Replayed: true`) "
                "instead of placing a second; the same key for another order is 409."
            ),
        ),
    ] = None,
) -> OrderOut:
    order = service.place_order(db, principal, body, idempotency_key=idempotency_key)
    if order.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return OrderOut.model_validate(order)


@router.get("/orders/{order_id}", response_model=OrderOut)
def get_order(db: DB, principal: Anyone, order_id: int) -> OrderOut:
    return service.present(db, [service.get_order(db, principal, order_id)])[0]


def _advance(action: str) -> Callable[..., OrderOut]:
    def endpoint(db: DB, principal: Operator, order_id: int) -> OrderOut:
        return service.present(db, [service.advance(db, principal, order_id, action)])[0]

    endpoint.__name__ = f"{action}_order"
    return endpoint


for _action in ("ship", "deliver", "confirm"):
    router.add_api_route(
        f"/orders/{{order_id}}/{_action}",
        _advance(_action),
        methods=["POST"],
        response_model=OrderOut,
        summary=f"{_action.capitalize()} an order",
    )


@router.post("/orders/{order_id}/refunds", response_model=OrderOut)
def refund_order(db: DB, principal: Operator, order_id: int, body: RefundCreate) -> OrderOut:
    return service.present(db, [service.refund(db, principal, order_id, body)])[0]
