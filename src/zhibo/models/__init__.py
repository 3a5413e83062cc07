"""All SQLAlchemy models, one file per aggregate. Importing this registers every table."""

from zhibo.models import console as console  # registers the console tables
from zhibo.models import grading as grading  # registers the grading tables
from zhibo.models import identity as identity  # registers the identity tables
from zhibo.models import risk as risk  # registers the risk case tables
from zhibo.models.brand import Brand, BrandStatus
from zhibo.models.category import Category, RiskClass
from zhibo.models.event_metrics import DeadLetter, EventPosition, MinuteMetrics, SessionMetrics
from zhibo.models.ledger import LedgerAccount, LedgerEntry, LedgerPosting
from zhibo.models.order import Order, OrderStatus, Refund
from zhibo.models.partner import Partner, PartnerContract, PartnerKind
from zhibo.models.product import Product, ProductPriceHistory, ProductStatus
from zhibo.models.room import LiveRoom, RoomStatus
from zhibo.models.search_outbox import SearchOutbox
from zhibo.models.session import LiveSession, SessionStatus, ShelfItem
from zhibo.models.settlement import (
    CommissionRateChange,
    CommissionRefund,
    OrderCommission,
    PayoutBatch,
    PolicyChoice,
    SettlementItem,
    SettlementRun,
    SlotFeeTerms,
)
from zhibo.models.streamer import Streamer, StreamerStatus
from zhibo.models.token import ApiToken, Role
from zhibo.models.viewer import Viewer, ViewerDevice

__all__ = [
    "ApiToken",
    "Brand",
    "BrandStatus",
    "Category",
    "CommissionRateChange",
    "CommissionRefund",
    "DeadLetter",
    "EventPosition",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerPosting",
    "LiveRoom",
    "LiveSession",
    "MinuteMetrics",
    "Order",
    "OrderCommission",
    "OrderStatus",
    "Partner",
    "PartnerContract",
    "PartnerKind",
    "PayoutBatch",
    "PolicyChoice",
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
    "SettlementItem",
    "SettlementRun",
    "ShelfItem",
    "SlotFeeTerms",
    "Streamer",
    "StreamerStatus",
    "Viewer",
    "ViewerDevice",
]
