"""A small, fixed data set for query tests: four users, three posts, two comments, tags."""

from __future__ import annotations

from dataclasses import dataclass

from sqlrecord import Database

from .models import Comment, Post, Tag, User


@dataclass
class Sample:
    kim: User
    lee: User
    park: User
    kimberly: User
    hello: Post
    again: Post
    other: Post


async def load_sample(db: Database) -> Sample:
    async with db.transaction():
        kim = await User.create(email="kim@example.com", name="Kim", age=30)
        lee = await User.create(email="lee@Example.org", name="lee_%", age=25)
        park = await User.create(email="park@example.com", name=None, age=None)
        kimberly = await User.create(email="KIM2@test.io", name="KIMBERLY", age=41)
        python, sql = await Tag.create(label="python"), await Tag.create(label="sql")
        hello = await Post.create(title="Hello World", body="first", author=kim, tags=[python])
        again = await Post.create(title="Again, hello", body="x", author=kim, tags=[python, sql])
        other = await Post.create(title="Other", body=None, author=lee)
        await Comment.create(body="Nice x", post=hello)
        await Comment.create(body="meh", post=other)
    return Sample(kim, lee, park, kimberly, hello, again, other)
