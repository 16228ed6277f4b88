"""Input models of the retail tools: what the model must send, described for the model."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from tools.retail.schema import CancelReason

OrderId = Annotated[
    str,
    Field(
        pattern=r"^#\S+$",
        description="The order id with its leading '#', e.g. '#W1234567'.",
    ),
]
UserId = Annotated[str, Field(min_length=1, description="The user id, e.g. 'mia_hernandez_1001'.")]
ItemId = Annotated[
    str,
    Field(
        min_length=1,
        description="An item id (one variant of a product), e.g. '1008292230'; not a product id.",
    ),
]
PaymentMethodId = Annotated[
    str,
    Field(
        min_length=1,
        description="A payment method id from the user's details, e.g. 'credit_card_1234567', "
        "'paypal_1234567' or 'gift_card_1234567'.",
    ),
]


class ToolInput(BaseModel):
    """Base of tool inputs: unknown fields are an error; surrounding whitespace is dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FindUserByEmail(ToolInput):
    """Input of find_user_id_by_email."""

    email: str = Field(
        pattern=r"^[^@\s]+@[^@\s]+$",
        description="The customer's email address, e.g. 'someone@example.com'.",
    )


class FindUserByNameZip(ToolInput):
    """Input of find_user_id_by_name_zip."""

    first_name: str = Field(min_length=1, description="The customer's first name, e.g. 'Mia'.")
    last_name: str = Field(min_length=1, description="The customer's last name, e.g. 'Hernandez'.")
    zip: str = Field(
        min_length=1, description="The zip code of the customer's account address, e.g. '78701'."
    )


class UserRef(ToolInput):
    """Input naming one user."""

    user_id: UserId


class OrderRef(ToolInput):
    """Input naming one order."""

    order_id: OrderId


class ProductRef(ToolInput):
    """Input naming one product type."""

    product_id: str = Field(
        min_length=1,
        description="A product id, e.g. '6086499569' (from list_all_product_types or an "
        "order's items); not an item id.",
    )


class ItemRef(ToolInput):
    """Input naming one item (variant)."""

    item_id: ItemId


class NoInput(ToolInput):
    """Input of tools that take no arguments."""


class Calculation(ToolInput):
    """Input of calculate."""

    expression: str = Field(
        min_length=1,
        max_length=500,
        description="Arithmetic over numbers with + - * / and parentheses, e.g. '(54.2 - 12) * 2'.",
    )


class TransferRequest(ToolInput):
    """Input of transfer_to_human_agents."""

    summary: str = Field(
        min_length=1,
        max_length=2000,
        description="A short summary of the customer's issue and what was already done, "
        "for the human agent who takes over.",
    )


class CancelOrder(ToolInput):
    """Input of cancel_pending_order."""

    order_id: OrderId
    reason: CancelReason = Field(
        description="Why the customer cancels: exactly 'no longer needed' or 'ordered by mistake'."
    )


class NewAddress(ToolInput):
    """A full postal address."""

    address1: str = Field(min_length=1, description="Street address, e.g. '12 Elm Street'.")
    address2: str = Field(
        default="", description="Apartment, suite or unit, e.g. 'Apt 4B'; empty if none."
    )
    city: str = Field(min_length=1, description="City, e.g. 'Austin'.")
    state: str = Field(min_length=1, description="State or region code, e.g. 'TX'.")
    country: str = Field(min_length=1, description="Country, e.g. 'USA'.")
    zip: str = Field(min_length=1, description="Zip or postal code, e.g. '78701'.")


class ModifyOrderAddress(NewAddress):
    """Input of modify_pending_order_address."""

    order_id: OrderId


class ModifyUserAddress(NewAddress):
    """Input of modify_user_address."""

    user_id: UserId


class ModifyOrderPayment(ToolInput):
    """Input of modify_pending_order_payment."""

    order_id: OrderId
    payment_method_id: PaymentMethodId


class SwapItems(ToolInput):
    """Input of modify_pending_order_items and exchange_delivered_order_items."""

    order_id: OrderId
    item_ids: list[ItemId] = Field(
        min_length=1,
        description="Item ids in the order to replace; list an id twice to replace two units.",
    )
    new_item_ids: list[ItemId] = Field(
        min_length=1,
        description="Replacement item ids, position by position: each is another available "
        "variant of the same product as the item at the same position in item_ids.",
    )
    payment_method_id: PaymentMethodId = Field(
        description="The user's payment method that pays, or receives, the price difference.",
    )


class ReturnItems(ToolInput):
    """Input of return_delivered_order_items."""

    order_id: OrderId
    item_ids: list[ItemId] = Field(
        min_length=1,
        description="Item ids in the order to return; list an id twice to return two units.",
    )
    payment_method_id: PaymentMethodId = Field(
        description="Where the refund goes: the order's original payment method or one of the "
        "user's gift cards.",
    )
