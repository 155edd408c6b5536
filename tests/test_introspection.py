"""BaseMixin's class properties, with the design notes' names."""

from __future__ import annotations

from sqlrecord import class_property

from .models import Membership, Note, Post, User


def test_column_and_relation_names() -> None:
    assert User.column_names == [
        "id",
        "email",
        "name",
        "status",
        "is_admin",
        "age",
        "created_at",
        "updated_at",
    ]
    assert User.relation_names == ["posts", "articles", "titled_posts"]
    assert User.hybrid_property_names == ["display_name", "email_domain"]


def test_settable_names_exclude_primary_key_created_at_and_viewonly() -> None:
    assert User.settable_column_names == [
        "email",
        "name",
        "status",
        "is_admin",
        "age",
        "updated_at",
    ]
    assert User.settable_relation_names == ["posts", "articles"]
    assert User.settable_attributes == [
        *User.settable_column_names,
        "posts",
        "articles",
        "display_name",
    ]
    assert Post.settable_relation_names == ["author", "tags", "comments"]


def test_keys_and_unique_names() -> None:
    assert User.primary_key_names == ["id"]
    assert User.unique_names == ["id", "email"]
    assert Note.unique_names == ["id", "code"]
    assert Membership.primary_key_names == ["group", "member"]
    assert User.protected_attribute_names == ["is_admin", "status", "updated_at"]


def test_properties_work_on_instances_too() -> None:
    assert User(email="x").column_names == User.column_names


def test_is_setter_or_expression_does_not_let_columns_through() -> None:
    assert User.is_setter_or_expression("display_name")
    assert User.is_setter_or_expression("email_domain")  # has a SQL expression
    assert User.is_setter_or_expression("nickname")  # property with setter
    assert not User.is_setter_or_expression("shout")  # property without setter
    assert not User.is_setter_or_expression("id")
    assert not User.is_setter_or_expression("created_at")
    assert not User.is_setter_or_expression("missing")


def test_query_is_select_of_the_model() -> None:
    assert str(User.query).startswith("SELECT test_users.id, test_users.email")
    assert str(User.query.where(User.id == 1)).endswith("WHERE test_users.id = :id_1")


def test_class_property_reads_from_the_class() -> None:
    class Counter:
        base = 2

        @class_property
        def doubled(cls) -> int:
            return cls.base * 2

    class Bigger(Counter):
        base = 5

    assert (Counter.doubled, Bigger.doubled, Bigger().doubled) == (4, 10, 10)
