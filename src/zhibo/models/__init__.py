"""All SQLAlchemy models, one file per aggregate. Importing this registers every table."""

from zhibo.models.brand import Brand, BrandStatus
from zhibo.models.category import Category, RiskClass
from zhibo.models.event_metrics import DeadLetter, EventPosition, MinuteMetrics, SessionMetrics
from zhibo.models.order import Order, OrderStatus, Refund
from zhibo.models.partner import Partner, PartnerContract, PartnerKind
from zhibo.models.product import Product, ProductPriceHistory, ProductStatus
from zhibo.models.room import LiveRoom, RoomStatus
from zhibo.models.search_outbox import SearchOutbox
from zhibo.models.session import LiveSession, SessionStatus, ShelfItem
from zhibo.models.streamer import Streamer, StreamerStatus
from zhibo.models.token import ApiToken, Role
from zhibo.models.viewer import Viewer, ViewerDevice

__all__ = [
    "ApiToken",
    "Brand",
    "BrandStatus",
    "Category",
    "DeadLetter",
    "EventPosition",
    "LiveRoom",
    "LiveSession",
    "MinuteMetrics",
    "Order",
    "OrderStatus",
    "Partner",
    "PartnerContract",
    "PartnerKind",
    "Product",
    "ProductPriceHistory",
    "ProductStatus",
    "Refund",
    "RiskClass",
    "Role",
    "RoomStatus",
    "SearchOutbox",
    "SessionMetrics",
    "SessionStatus",
    "ShelfItem",
    "Streamer",
    "StreamerStatus",
    "Viewer",
    "ViewerDevice",
]
