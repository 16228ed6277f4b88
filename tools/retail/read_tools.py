"""Read-only retail tools: find and look up customers, orders and the catalog."""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy import bindparam, func
from sqlmodel import col, select

from agent.registry import Tool, ToolContext, ToolError, ToolOutput
from agent.store.direct import Direct
from tools.retail.calculator import CalculationError, calculate_expression
from tools.retail.inputs import (
    Calculation,
    FindUserByEmail,
    FindUserByNameZip,
    ItemRef,
    NoInput,
    OrderRef,
    ProductRef,
    TransferRequest,
    UserRef,
)
from tools.retail.orders import get_order, get_user, get_variant, load, product_name
from tools.retail.schema import DOLLARS
from tools.retail.tables import RetailProduct, RetailUser
from tools.retail.transfer import product_variants, user_order_ids


def _fold(text: str) -> str:
    """Case- and accent-insensitive form of a name, as a caller might spell it."""
    decomposed = unicodedata.normalize("NFKD", text.strip())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _customer_gave(ctx: ToolContext, *identifiers: str) -> None:
    """Refuse a lookup with identifiers the customer did not write in this conversation.

    The customer is who their own words say, not whoever the model looks up: a lookup
    authenticates only with what the customer gave (or a verified id from the channel).
    """
    said = _fold(" ".join(ctx.customer_said))
    missing = [i for i in identifiers if _fold(i) not in said]
    if missing:
        raise ToolError(
            "the customer has not given "
            + ", ".join(repr(m) for m in missing)
            + " in this conversation; ask the customer for their own details and look up "
            "only what they wrote"
        )


def find_user_id_by_email(ctx: ToolContext, args: FindUserByEmail) -> ToolOutput:
    """The id of the user with this email (case-insensitive), if the customer gave it."""
    _customer_gave(ctx, args.email)
    found = _BY_EMAIL.run(ctx.session.connection(), {"email": args.email.strip().lower()})
    user_id = found.scalar()
    if user_id is None:
        raise ToolError(f"no user with email {args.email!r}")
    return ToolOutput(content=user_id, identifies_customer=user_id)


_BY_EMAIL = Direct.of(  # built once: most conversations begin with it
    select(col(RetailUser.user_id))
    .where(func.lower(RetailUser.email) == bindparam("email"))
    .order_by(col(RetailUser.seq))
    .limit(1)
)


def find_user_id_by_name_zip(ctx: ToolContext, args: FindUserByNameZip) -> ToolOutput:
    """The id of the user with this name (case- and accent-insensitive) and zip code."""
    _customer_gave(ctx, args.first_name, args.last_name, args.zip)
    first, last, zip_code = _fold(args.first_name), _fold(args.last_name), args.zip.strip()
    # Only the accounts at that zip are read; their names are folded here (SQL has no
    # portable way to ignore accents).
    for user_id, first_name, last_name in _BY_ZIP.run(
        ctx.session.connection(), {"zip": zip_code}
    ).rows:
        if _fold(first_name) == first and _fold(last_name) == last:
            return ToolOutput(content=user_id, identifies_customer=user_id)
    raise ToolError(f"no user named {args.first_name} {args.last_name} with zip {args.zip}")


_BY_ZIP = Direct.of(  # built once; the zip is the address's, compared exactly as stored
    select(col(RetailUser.user_id), col(RetailUser.first_name), col(RetailUser.last_name))
    .where(col(RetailUser.address)["zip"].as_string() == bindparam("zip"))
    .order_by(col(RetailUser.seq))
)


def get_user_details(ctx: ToolContext, args: UserRef) -> dict[str, Any]:
    """The user's profile, payment methods (gift card balances) and order ids."""
    user = get_user(ctx.session, args.user_id)
    shape = user.to_shape(user_order_ids(ctx.session, user.user_id))
    return shape.model_dump(context=DOLLARS)


def get_order_details(ctx: ToolContext, args: OrderRef) -> dict[str, Any]:
    """The order: status, items, address, shipments and payment history."""
    return get_order(ctx.session, args.order_id).to_shape().to_json()


def get_product_details(ctx: ToolContext, args: ProductRef) -> dict[str, Any]:
    """The product with every variant, its options, price and availability."""
    product = load(ctx.session, RetailProduct, args.product_id)
    if product is None:
        raise ToolError(f"product {args.product_id!r} not found (item ids are not product ids)")
    variants = product_variants(ctx.session, product.product_id)
    return product.to_shape(variants).model_dump(context=DOLLARS)


def get_item_details(ctx: ToolContext, args: ItemRef) -> dict[str, Any]:
    """One item (variant): its product, options, price and availability."""
    variant = get_variant(ctx.session, args.item_id)
    return {
        "name": product_name(ctx.session, variant.product_id),
        "product_id": variant.product_id,
        **variant.to_shape().model_dump(context=DOLLARS),
    }


def list_all_product_types(ctx: ToolContext, args: NoInput) -> dict[str, str]:
    """Product names mapped to product ids, sorted by name."""
    products = ctx.session.exec(select(RetailProduct).order_by(col(RetailProduct.name)))
    return {product.name: product.product_id for product in products}


def calculate(ctx: ToolContext, args: Calculation) -> float:
    """The value of an arithmetic expression, rounded to 2 decimals."""
    try:
        return calculate_expression(args.expression)
    except CalculationError as exc:
        raise ToolError(str(exc)) from None


def transfer_to_human_agents(ctx: ToolContext, args: TransferRequest) -> ToolOutput:
    """Hand the conversation to a human agent; the conversation ends."""
    return ToolOutput(content="Transfer successful", ends_conversation=True)


READ_TOOLS: list[Tool] = [
    Tool(
        name="find_user_id_by_email",
        description=(
            "Identify the customer by the email on their account. Use this first to "
            "authenticate the customer before looking at or changing any account or order. "
            "If they cannot give an email, or it is not found, use find_user_id_by_name_zip."
        ),
        input_model=FindUserByEmail,
        effect="read",
        fn=find_user_id_by_email,
    ),
    Tool(
        name="find_user_id_by_name_zip",
        description=(
            "Identify the customer by first name, last name and the zip code of their account "
            "address. Use this to authenticate when the customer cannot give their email or "
            "the email is not found."
        ),
        input_model=FindUserByNameZip,
        effect="read",
        fn=find_user_id_by_name_zip,
    ),
    Tool(
        name="get_user_details",
        description=(
            "Look up the authenticated customer's account: name, address, email, payment "
            "methods (with gift card balances) and the ids of their orders. Use it to find "
            "which order the customer means and which payment methods they may use."
        ),
        input_model=UserRef,
        effect="read",
        touches_account=True,
        fn=get_user_details,
    ),
    Tool(
        name="get_order_details",
        description=(
            "Look up one order: status, items with item ids and prices, shipping address, "
            "tracking and payment history. Check the status here before offering to cancel, "
            "modify, return or exchange anything."
        ),
        input_model=OrderRef,
        effect="read",
        touches_account=True,
        fn=get_order_details,
    ),
    Tool(
        name="get_product_details",
        description=(
            "Look up a product type and all its variants (item ids, options, prices, "
            "availability). Use it to find a replacement item of the same product for an "
            "exchange or modification, or to answer questions about options and prices."
        ),
        input_model=ProductRef,
        effect="read",
        fn=get_product_details,
    ),
    Tool(
        name="get_item_details",
        description=(
            "Look up a single item (variant) by item id: its product, options, price and "
            "whether it is available."
        ),
        input_model=ItemRef,
        effect="read",
        fn=get_item_details,
    ),
    Tool(
        name="list_all_product_types",
        description=(
            "List every product type the store sells, as name -> product id. Use it when the "
            "customer asks about a product and you need its product id."
        ),
        input_model=NoInput,
        effect="read",
        fn=list_all_product_types,
    ),
    Tool(
        name="calculate",
        description=(
            "Compute an arithmetic expression (numbers, + - * /, parentheses), rounded to two "
            "decimals. Use it for totals, refunds and price differences instead of doing the "
            "arithmetic yourself."
        ),
        input_model=Calculation,
        effect="read",
        fn=calculate,
    ),
    Tool(
        name="transfer_to_human_agents",
        description=(
            "Hand the conversation to a human agent. Use it only when the customer explicitly "
            "asks for a human, or the request cannot be handled with your tools and policy. "
            "After it succeeds, tell the customer they are being transferred and stop."
        ),
        input_model=TransferRequest,
        effect="read",
        fn=transfer_to_human_agents,
    ),
]
