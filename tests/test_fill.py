"""fill(): the design notes' four rules, mass-assignment protection and value checks."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from sqlrecord import Database
from sqlrecord.exceptions import (
    InvalidFieldError,
    InvalidValueError,
    NotLoadedError,
    ProtectedFieldError,
)

from .helpers import fetch_column
from .models import Membership, Post, Tag, User


def test_form_noise_is_skipped() -> None:
    user = User().fill(email="a@b.c", csrf_token="t", submit="Save", hidden_next="/home")
    assert user.email == "a@b.c"
    assert "csrf_token" not in vars(user)


@pytest.mark.parametrize(
    "name", ["id", "created_at", "titled_posts", "email_domain", "shout", "nope"]
)
def test_unsettable_names_are_refused_with_the_settable_list(name: str) -> None:
    user = User(email="keep@b.c")
    with pytest.raises(InvalidFieldError) as caught:
        user.fill(name="ignored", **{name: "x"})
    error = caught.value
    assert isinstance(error, KeyError)
    assert error.field == name and error.model == "User"
    assert "email" in str(error) and "display_name" in str(error)
    # All names are checked before any is set.
    assert user.name is None


def test_column_hybrid_setter_and_property_setter() -> None:
    user = User().fill(email="a@b.c", display_name="Shown")
    assert user.name == "Shown"
    user.fill(nickname="LOUD")
    assert user.name == "loud"


def test_protected_fields_are_refused_by_fill_whatever_the_form_says() -> None:
    user = User(email="a@b.c")
    with pytest.raises(ProtectedFieldError, match=r"User.using\(allow_protected"):
        user.fill(is_admin=True)
    for form in ({"is_admin": True, "allow_protected": True}, {"allow_protected": ["is_admin"]}):
        with pytest.raises(InvalidFieldError):
            user.fill(**form)
        with pytest.raises(InvalidFieldError):
            user.fill(form)
    assert user.is_admin is None
    user.is_admin = True  # trusted code sets protected attributes directly
    assert user.is_admin is True


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"age": "old"}, "takes int"),
        ({"email": 42}, "takes str"),
        ({"is_admin": "yes"}, "takes bool"),
        ({"name": "x" * 51}, "at most 50"),
    ],
)
async def test_wrong_types_and_lengths_are_refused(
    db: Database, values: dict[str, object], message: str
) -> None:
    """Checked before any SQL, on the trusted route (protected fields allowed) too."""
    trusted = User.using(allow_protected=True)
    with pytest.raises(InvalidValueError, match=message):
        await trusted.create({"email": "a@b.c", **values})
    if "is_admin" not in values:
        user = User(email="a@b.c")
        with pytest.raises(InvalidValueError, match=message):
            user.fill(**values)
        assert user.age is None and user.name is None
    assert await fetch_column(db, User, "email") == []


def test_relationship_values_are_checked() -> None:
    with pytest.raises(InvalidValueError, match="takes User objects"):
        Post().fill(author="kim")
    with pytest.raises(InvalidValueError, match="takes Tag objects"):
        Post().fill(tags=["python"])
    with pytest.raises(InvalidValueError, match="takes User objects, got list"):
        Post().fill(author=[User(email="a@b.c")])
    # None is no collection (hypothesis found it: it reached the flush as a None member).
    post = Post(title="t")
    with pytest.raises(InvalidValueError, match=r"Post.tags is a collection: .*\[\] for none"):
        post.fill(tags=None)
    assert post.tags == []
    assert Post().fill(author=None).author is None  # a single relationship may be None


def test_list_relationship_appends_a_single_object_and_sets_a_list() -> None:
    post = Post(title="t")
    first, second, third = Tag(label="a"), Tag(label="b"), Tag(label="c")
    post.fill(tags=first)
    post.fill(tags=second)
    assert post.tags == [first, second]
    post.fill(tags=[third])
    assert post.tags == [third]


def test_natural_primary_key_is_settable_only_before_saving() -> None:
    membership = Membership().fill(group="g", member=1)
    assert (membership.group, membership.member) == ("g", 1)


async def test_unchanged_values_do_not_mark_the_object_dirty(db: Database) -> None:
    user = await User.create(email="same@b.c", name="Same")
    user.fill(name="Same", email="same@b.c")
    assert not inspect(user).modified
    user.fill(name="Other")
    assert inspect(user).modified


async def test_primary_key_of_a_saved_natural_key_object_is_refused(db: Database) -> None:
    membership = await Membership.create(group="g", member=1)
    with pytest.raises(InvalidFieldError, match="'member'"):
        membership.fill(member=2)


async def test_unloaded_collection_gives_a_clear_error(db: Database) -> None:
    user = await User.create(email="coll@b.c")
    with pytest.raises(NotLoadedError, match=r"User.posts is not loaded"):
        user.fill(posts=Post(title="x"))


async def test_rejected_create_writes_nothing(db: Database) -> None:
    with pytest.raises(InvalidFieldError):
        await User.create(email="never@b.c", id=5)
    with pytest.raises(ProtectedFieldError):
        await User.create(email="never@b.c", is_admin=True)
    with pytest.raises(InvalidValueError):
        await User.create(email="never@b.c", age="x")
    assert await fetch_column(db, User, "email") == []
    admin = await User.using(allow_protected={"is_admin"}).create(email="admin@b.c", is_admin=True)
    assert admin.is_admin is True


def test_out_of_range_integers_are_refused_everywhere() -> None:
    with pytest.raises(InvalidValueError, match="out of range"):
        User().fill(email="a@b.c", age=2**31)
    with pytest.raises(InvalidValueError, match="out of range"):
        User.filter_by(id=2**63)


async def test_out_of_range_primary_key_is_a_typed_error(db: Database) -> None:
    with pytest.raises(InvalidValueError, match="out of range"):
        await User.get(2**63)


def test_protections_add_up_and_errors_list_only_fillable_names() -> None:
    assert {"updated_at", "status", "is_admin"} <= set(User.protected_attribute_names)
    with pytest.raises(ProtectedFieldError):
        User().fill(updated_at=None)
    with pytest.raises(InvalidFieldError) as caught:
        User().fill(nope=1)
    assert "is_admin" not in caught.value.valid and "status" not in str(caught.value)
    assert "email" in caught.value.valid


async def test_a_body_passed_as_data_cannot_set_options(db: Database) -> None:
    body = {"email": "body@b.c", "allow_protected": True, "is_admin": True}
    with pytest.raises(InvalidFieldError, match="'allow_protected'"):
        await User.create(body)
    with pytest.raises(ProtectedFieldError):
        await User.create({"email": "body@b.c", "is_admin": True})
    user = await User.create({"email": "body@b.c"}, name="From keyword")
    assert (user.email, user.name) == ("body@b.c", "From keyword")
    await user.update({"name": "Updated"})
    assert user.fill({"age": 3}).age == 3
    assert await fetch_column(db, User, "name") == ["Updated"]
