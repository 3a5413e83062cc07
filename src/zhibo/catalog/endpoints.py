"""HTTP endpoints of the product pool."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from zhibo.catalog import service
from zhibo.catalog.importer import service as importer
from zhibo.catalog.schemas import (
    BatchReject,
    BrandCreate,
    BrandOut,
    CategoryCreate,
    CategoryOut,
    PriceHistoryOut,
    ProductBatch,
    ProductBatchResult,
    ProductCreate,
    ProductOut,
    ProductPut,
    ProductUpdate,
)
from zhibo.kit.api import ALL_ROLES, DB, ERROR_RESPONSES, require
from zhibo.kit.auth import Principal
from zhibo.kit.pagination import Page
from zhibo.models import Role

router = APIRouter(prefix="/v1", tags=["catalog"], responses=ERROR_RESPONSES)

Cursor = Annotated[str | None, Query(max_length=200, description="From the previous page")]
Limit = Annotated[int, Query(ge=1, le=500)]
Anyone = Annotated[Principal, Depends(require(*ALL_ROLES))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Publisher = Annotated[Principal, Depends(require(Role.OPERATOR, Role.BRAND))]


@router.get("/categories", response_model=Page[CategoryOut])
def list_categories(
    db: DB, _: Anyone, cursor: Cursor = None, limit: Limit = 100
) -> Page[CategoryOut]:
    rows, next_cursor = service.list_categories(db, cursor, limit)
    return Page(items=[CategoryOut.model_validate(row) for row in rows], next_cursor=next_cursor)


@router.post("/categories", response_model=CategoryOut, status_code=201)
def create_category(db: DB, _: Operator, body: CategoryCreate) -> CategoryOut:
    return CategoryOut.model_validate(service.create_category(db, body))


@router.get("/brands", response_model=Page[BrandOut])
def list_brands(db: DB, _: Anyone, cursor: Cursor = None, limit: Limit = 50) -> Page[BrandOut]:
    rows, next_cursor = service.list_brands(db, cursor, limit)
    return Page(items=[BrandOut.model_validate(row) for row in rows], next_cursor=next_cursor)


@router.get("/brands/{brand_id}", response_model=BrandOut)
def get_brand(db: DB, _: Anyone, brand_id: int) -> BrandOut:
    return BrandOut.model_validate(service.get_brand(db, brand_id))


@router.post("/brands", response_model=BrandOut, status_code=201)
def create_brand(db: DB, _: Operator, body: BrandCreate) -> BrandOut:
    return BrandOut.model_validate(service.create_brand(db, body))


@router.get("/products", response_model=Page[ProductOut])
def list_products(
    db: DB,
    principal: Anyone,
    cursor: Cursor = None,
    limit: Limit = 50,
    brand_id: int | None = None,
    category_id: int | None = None,
) -> Page[ProductOut]:
    rows, next_cursor = service.list_products(db, principal, cursor, limit, brand_id, category_id)
    return Page(items=[ProductOut.model_validate(row) for row in rows], next_cursor=next_cursor)


@router.post("/products", response_model=ProductOut, status_code=201)
def create_product(db: DB, principal: Publisher, body: ProductCreate) -> ProductOut:
    return ProductOut.model_validate(service.create_product(db, principal, body))


@router.post("/products/batch", response_model=ProductBatchResult)
def import_products(db: DB, principal: Publisher, body: ProductBatch) -> ProductBatchResult:
    """Upsert up to 1,000 canonical rows by (brand, product_id); bad rows are rejected alone."""
    result = importer.import_batch(db, principal, body.items, body.create_missing)
    rejects = [BatchReject(row=r.row, field=r.field, reason=r.reason) for r in result.rejects]
    return ProductBatchResult(**result.counts.as_dict(), rejects=rejects)


@router.put(
    "/brands/{brand_id}/products/{product_id:path}",
    response_model=ProductOut,
    responses={201: {"model": ProductOut, "description": "Created"}},
)
def put_product(
    db: DB,
    principal: Publisher,
    brand_id: int,
    product_id: Annotated[str, Path(min_length=1, max_length=100, description="Brand's own id")],
    body: ProductPut,
    response: Response,
) -> ProductOut:
    """Create (201) or replace (200) one product, keyed by the brand's own product id."""
    product, created = importer.put_product(db, principal, brand_id, product_id, body)
    response.status_code = 201 if created else 200
    return ProductOut.model_validate(product)


@router.get("/products/{product_id}", response_model=ProductOut)
def get_product(db: DB, principal: Anyone, product_id: int) -> ProductOut:
    return ProductOut.model_validate(service.get_product(db, principal, product_id))


@router.patch("/products/{product_id}", response_model=ProductOut)
def update_product(
    db: DB, principal: Publisher, product_id: int, body: ProductUpdate
) -> ProductOut:
    return ProductOut.model_validate(service.update_product(db, principal, product_id, body))


@router.get("/products/{product_id}/price-history", response_model=list[PriceHistoryOut])
def product_price_history(db: DB, principal: Anyone, product_id: int) -> list[PriceHistoryOut]:
    rows = service.price_history(db, principal, product_id)
    return [PriceHistoryOut.model_validate(row) for row in rows]
