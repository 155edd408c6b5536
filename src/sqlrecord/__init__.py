"""sqlrecord: async ActiveRecord for SQLAlchemy 2 declarative models, made for FastAPI.

Example:
    >>> import sqlrecord
    >>> sorted(sqlrecord.__all__)[:3]
    ['Base', 'BaseMixin', 'BaseModel']
"""

from ._class_property import class_property
from .crud import CRUDMixin
from .database import Database
from .introspection import BaseMixin
from .lookups import Q
from .model import Base, BaseModel, BaseModelMixin
from .object import ObjectMixin
from .pagination import CursorPage, Page
from .query import Query, QueryMixin
from .request_filters import RequestFilters
from .softdelete import SoftDeleteMixin
from .types import UTCDateTime, utc_now
from .versioning import VersionedMixin

__all__ = [
    "Base",
    "BaseMixin",
    "BaseModel",
    "BaseModelMixin",
    "CRUDMixin",
    "CursorPage",
    "Database",
    "ObjectMixin",
    "Page",
    "Q",
    "Query",
    "QueryMixin",
    "RequestFilters",
    "SoftDeleteMixin",
    "UTCDateTime",
    "VersionedMixin",
    "class_property",
    "utc_now",
]

__version__ = "0.1.0"
