"""Pydantic models of the service's requests and answers (they make the OpenAPI schema at
``/docs`` and check every answer's shape).

Terms, lifts and modality weights are keyed by chunk name: the attributes, then ``others``
(AD-DRL's free chunks); they are ``null`` for a model without per-attribute terms.
"""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from addrl_graph.serve.state import MAX_BATCH_USERS, MAX_K, XI_MAX, XI_MIN

Xi = Annotated[float, Field(ge=XI_MIN, le=XI_MAX)]
Terms = dict[str, float]


class Health(BaseModel):
    status: str
    run: str
    model: str
    checkpoint: str
    epoch: int | None
    checkpoints_verified: list[str] = Field(description='checkpoints whose sha256 was checked')
    num_users: int
    num_items: int
    per_attribute_terms: bool


class Attribute(BaseModel):
    name: str
    values: list[str]
    controllable: bool = Field(description='whether control may name it (AD-DRL only)')


class Attributes(BaseModel):
    attributes: list[Attribute]
    chunks: list[str] = Field(description='chunk names control may use (attributes, others)')
    xi_min: float
    xi_max: float
    per_attribute_terms: bool
    note: str | None


class UserList(BaseModel):
    total: int = Field(description='users matching (all users for a random pick)')
    users: list[str]


class Item(BaseModel):
    item: str = Field(description='item id (asin)')
    title: str | None
    label: str = Field(description='the title where known, else the id')
    image_url: str | None
    values: dict[str, str] = Field(description='value of each attribute, by name')


class User(BaseModel):
    user: str
    num_items: int
    history: list[Item] = Field(description='training and validation items')


class RecommendedItem(Item):
    rank: int
    score: float = Field(description='the controlled score s_xi(u, i) (Eq. 14)')
    terms: Terms | None = Field(description='unscaled Eq. 11 term of every chunk')
    lift: Terms | None = Field(description="term minus the user's mean term over all items")


class Recommendations(BaseModel):
    user: str
    model: str
    k: int
    control: dict[str, float]
    exclude_seen: bool
    per_attribute_terms: bool
    note: str | None
    items: list[RecommendedItem]


class Explanation(Item):
    user: str
    model: str
    score: float = Field(description='s(u, i) (Eq. 11), the sum of the terms')
    per_attribute_terms: bool
    note: str | None
    terms: Terms | None
    lift: Terms | None
    modality_weights: dict[str, dict[str, float]] | None = Field(
        description='Eq. 8 attention of each chunk over id, text and image')
    top_attribute: str | None = Field(description='the attribute with the largest lift')


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra='forbid')

    users: list[str] = Field(min_length=1, max_length=MAX_BATCH_USERS,
                             description=f'1 to {MAX_BATCH_USERS} user ids')
    k: int = Field(20, ge=1, le=MAX_K)
    control: dict[str, Xi] = Field(default_factory=dict,
                                   description=f'xi in [{XI_MIN:g}, {XI_MAX:g}] by chunk name')
    exclude_seen: bool = True


class BatchResponse(BaseModel):
    results: list[Recommendations]


class Message(BaseModel):
    detail: str
