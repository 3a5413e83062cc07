"""What the catalog does: create categories and brands, publish and change products."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhibo.catalog import outbox, repository
from zhibo.catalog.schemas import BrandCreate, CategoryCreate, ProductCreate, ProductUpdate
from zhibo.kit.auth import Principal
from zhibo.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from zhibo.kit.pagination import paginate
from zhibo.kit.time import utcnow
from zhibo.models import Brand, Category, Product, ProductPriceHistory, Role


class UnknownCategory(InvalidInput):
    """The category does not exist."""


class UnknownBrand(InvalidInput):
    """The brand does not exist."""


class DuplicateProduct(Conflict):
    """The brand already has a product with this external id."""


def create_category(session: Session, data: CategoryCreate) -> Category:
    path = data.name
    if data.parent_id is not None:
        parent = session.get(Category, data.parent_id)
        if parent is None:
            raise UnknownCategory(f"parent_id: no category with id {data.parent_id}")
        path = f"{parent.path}/{data.name}"
    if session.scalar(select(Category.id).where(Category.path == path)) is not None:
        raise Conflict(f"name: category {path!r} already exists")
    category = Category(
        name=data.name, parent_id=data.parent_id, path=path, risk_class=data.risk_class
    )
    session.add(category)
    session.flush()
    return category


def create_brand(session: Session, data: BrandCreate, at: datetime | None = None) -> Brand:
    if session.scalar(select(Brand.id).where(Brand.name == data.name)) is not None:
        raise Conflict(f"name: brand {data.name!r} already exists")
    brand = Brand(
        name=data.name,
        social_credit_code=data.social_credit_code,
        new_brand_date=data.new_brand_date,
        created_at=at or utcnow(),
    )
    session.add(brand)
    session.flush()
    return brand


def _check_brand_write(principal: Principal, brand_id: int) -> None:
    if principal.role == Role.BRAND and principal.subject_id != brand_id:
        raise Forbidden("brand_id: a brand may publish only its own products")


def create_product(
    session: Session, principal: Principal, data: ProductCreate, at: datetime | None = None
) -> Product:
    _check_brand_write(principal, data.brand_id)
    if session.get(Brand, data.brand_id) is None:
        raise UnknownBrand(f"brand_id: no brand with id {data.brand_id}")
    if session.get(Category, data.category_id) is None:
        raise UnknownCategory(f"category_id: no category with id {data.category_id}")
    duplicate = select(Product.id).where(
        Product.brand_id == data.brand_id, Product.external_id == data.external_id
    )
    if session.scalar(duplicate) is not None:
        raise DuplicateProduct(
            f"external_id: brand {data.brand_id} already has product {data.external_id!r}"
        )
    now = at or utcnow()
    product = Product(**data.model_dump(), sales_30d=0, created_at=now, updated_at=now)
    session.add(product)
    session.flush()
    _record_price(session, product, now)
    outbox.enqueue(session, [product.id], now)
    return product


def get_product(session: Session, principal: Principal, product_id: int) -> Product:
    product = session.scalar(
        repository.products_visible_to(principal).where(Product.id == product_id)
    )
    if product is None:
        raise NotFound(f"product: no product with id {product_id}")
    return product


def update_product(
    session: Session,
    principal: Principal,
    product_id: int,
    data: ProductUpdate,
    at: datetime | None = None,
) -> Product:
    product = get_product(session, principal, product_id)
    _check_brand_write(principal, product.brand_id)
    changes = data.model_dump(exclude_unset=True)
    if "status" in changes and changes["status"] is None:
        raise InvalidInput("status: may not be null")
    priced = {"price_fen", "reference_price_fen", "commission_rate_bp", "stock"}
    before = {name: getattr(product, name) for name in priced}
    for name, value in changes.items():
        if name in {"price_fen", "commission_rate_bp", "stock", "title"} and value is None:
            raise InvalidInput(f"{name}: may not be null")
        setattr(product, name, value)
    now = at or utcnow()
    product.updated_at = now
    if any(getattr(product, name) != before[name] for name in priced):
        _record_price(session, product, now)
    session.flush()
    outbox.enqueue(session, [product.id], now)
    return product


def _record_price(session: Session, product: Product, at: datetime) -> None:
    session.add(
        ProductPriceHistory(
            product_id=product.id,
            price_fen=product.price_fen,
            reference_price_fen=product.reference_price_fen,
            currency=product.currency,
            commission_rate_bp=product.commission_rate_bp,
            stock=product.stock,
            effective_at=at,
        )
    )


def list_products(
    session: Session,
    principal: Principal,
    cursor: str | None,
    limit: int,
    brand_id: int | None = None,
    category_id: int | None = None,
) -> tuple[Sequence[Product], str | None]:
    query = repository.products_visible_to(principal)
    if brand_id is not None:
        query = query.where(Product.brand_id == brand_id)
    if category_id is not None:
        query = query.where(Product.category_id == category_id)
    return paginate(session, query, Product.id, cursor, limit)


def price_history(
    session: Session, principal: Principal, product_id: int
) -> Sequence[ProductPriceHistory]:
    get_product(session, principal, product_id)
    return session.scalars(repository.price_history(product_id)).all()


def list_categories(
    session: Session, cursor: str | None, limit: int
) -> tuple[Sequence[Category], str | None]:
    return paginate(session, repository.categories(), Category.id, cursor, limit)


def list_brands(
    session: Session, cursor: str | None, limit: int
) -> tuple[Sequence[Brand], str | None]:
    return paginate(session, repository.brands(), Brand.id, cursor, limit)


def get_brand(session: Session, brand_id: int) -> Brand:
    brand = session.get(Brand, brand_id)
    if brand is None:
        raise NotFound(f"brand: no brand with id {brand_id}")
    return brand
