"""sqlrecord: async ActiveRecord for SQLAlchemy 2 declarative models, made for FastAPI.

Example:
    >>> import sqlrecord
    >>> sorted(sqlrecord.__all__)[:3]
    ['Avg', 'Base', 'BaseMixin']
"""

from ._class_property import class_property
from ._crud import CRUDMixin
from ._database import Database
from ._expressions import Avg, Coalesce, Count, F, Max, Min, Sum
from ._grouped import GroupedQuery
from ._introspection import BaseMixin
from ._lookups import Q
from ._model import Base, BaseModel, BaseModelMixin
from ._object import ObjectMixin
from ._pagination import CursorPage, Page
from ._query import Query
from ._replicas import Replicas, ReplicaStats, ReplicaUsage
from ._request_filters import RequestFilters
from ._softdelete import SoftDeleteMixin
from ._versioning import VersionedMixin
from .types import UTCDateTime, utc_now

__all__ = [
    "Avg",
    "Base",
    "BaseMixin",
    "BaseModel",
    "BaseModelMixin",
    "CRUDMixin",
    "Coalesce",
    "Count",
    "CursorPage",
    "Database",
    "F",
    "GroupedQuery",
    "Max",
    "Min",
    "ObjectMixin",
    "Page",
    "Q",
    "Query",
    "ReplicaStats",
    "ReplicaUsage",
    "Replicas",
    "RequestFilters",
    "SoftDeleteMixin",
    "Sum",
    "UTCDateTime",
    "VersionedMixin",
    "class_property",
    "utc_now",
]

__version__ = "0.1.0"
