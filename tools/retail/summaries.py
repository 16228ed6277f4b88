"""Plain-language sentences of exactly what a write call will do, for confirmations.

Each summarizer takes the validated arguments and, optionally, a session: with a session
it names amounts and items; without one (the registry's ``Summarizer`` passes only the
arguments) it says the same from the arguments alone. Summaries never raise.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session

from agent.registry import ToolError
from tools.retail.inputs import (
    CancelOrder,
    ModifyOrderAddress,
    ModifyOrderPayment,
    ModifyUserAddress,
    NewAddress,
    ReturnItems,
    SwapItems,
)
from tools.retail.orders import get_order, get_user, get_variant, net_paid_by_method, pick_items
from tools.retail.schema import Address, format_money
from tools.retail.tables import RetailOrder


def _with_data(
    session: Session | None,
    detailed: Callable[[Session], str],
    plain: str,
    owner: Callable[[Session], str] | None = None,
) -> str:
    """The summary from the stored records, naming the account it acts on; else `plain`."""
    if session is None:
        return plain
    try:
        text = detailed(session)
        if owner is None:
            return text
        user = get_user(session, owner(session))
        return f"For {user.first_name} {user.last_name} ({user.user_id}): {text}"
    except ToolError:
        return plain


def _order_owner(order_id: str) -> Callable[[Session], str]:
    return lambda s: get_order(s, order_id).user_id


def _address_text(args: NewAddress) -> str:
    parts = [args.address1, args.address2, args.city, f"{args.state} {args.zip}", args.country]
    return ", ".join(p for p in parts if p)


def _ids(item_ids: list[str]) -> str:
    return ", ".join(item_ids)


def _item_label(item_id: str, options: dict[str, str]) -> str:
    text = ", ".join(f"{k} {v}" for k, v in options.items())
    return f"{item_id} ({text})" if text else item_id


def _order_items(order: RetailOrder) -> str:
    return ", ".join(item.name for item in order.get_items()) or "no items"


def _stored_address(address: Address) -> str:
    parts = [address.address1, address.address2, address.city, f"{address.state} {address.zip}"]
    return ", ".join([*(p for p in parts if p), address.country])


def summarize_cancel(args: CancelOrder, session: Session | None = None) -> str:
    """Cancel order X with its items (reason); what is refunded to which method."""
    head = f"Cancel order {args.order_id} (reason: {args.reason})"

    def detailed(s: Session) -> str:
        order = get_order(s, args.order_id)
        head = f"Cancel order {args.order_id} ({_order_items(order)}; reason: {args.reason})"
        refunds = net_paid_by_method(order.get_payments())
        if not refunds:
            return f"{head}; nothing was paid, so nothing is refunded."
        parts = [f"{format_money(amount)} refunded to {method}" for method, amount in refunds]
        return f"{head}; {' and '.join(parts)}."

    plain = f"{head}; everything paid is refunded to the payment method(s) used."
    return _with_data(session, detailed, plain, _order_owner(args.order_id))


def summarize_order_address(args: ModifyOrderAddress, session: Session | None = None) -> str:
    """Change the shipping address of order X from its stored one to Y."""
    plain = f"Change the shipping address of order {args.order_id} to {_address_text(args)}."

    def detailed(s: Session) -> str:
        old = _stored_address(Address.model_validate(get_order(s, args.order_id).address))
        return (
            f"Change the shipping address of order {args.order_id} from {old} "
            f"to {_address_text(args)}."
        )

    return _with_data(session, detailed, plain, _order_owner(args.order_id))


def summarize_order_payment(args: ModifyOrderPayment, session: Session | None = None) -> str:
    """Pay order X with method Y instead of the current one."""
    new = args.payment_method_id

    def detailed(s: Session) -> str:
        payments = get_order(s, args.order_id).get_payments()
        if len(payments) != 1:
            raise ToolError("not exactly one payment")
        old = payments[0]
        return (
            f"Pay order {args.order_id} with {new} instead of {old.payment_method_id}: "
            f"{format_money(old.amount)} charged to {new} and refunded to {old.payment_method_id}."
        )

    plain = f"Pay order {args.order_id} with {new} instead of its current payment method, "
    plain += "which is refunded."
    return _with_data(session, detailed, plain, _order_owner(args.order_id))


def _swap_text(session: Session, args: SwapItems) -> tuple[str, int]:
    order = get_order(session, args.order_id)
    items = order.get_items()
    positions = pick_items(order, args.item_ids)
    lines, difference = [], 0
    for position, new_id in zip(positions, args.new_item_ids, strict=False):
        old = items[position]
        old_label = _item_label(old.item_id, old.options)
        if new_id == old.item_id:  # same variant: a replacement, never a price difference
            lines.append(f"{old.name} {old_label} with a new one of the same item")
            continue
        new = get_variant(session, new_id)
        difference += new.price - old.price
        lines.append(f"{old.name} {old_label} with {_item_label(new_id, new.options)}")
    return "; ".join(lines), difference


def _settlement(difference: int, method: str, *, now: bool) -> str:
    when = "" if now else " when the exchange completes"
    if difference > 0:
        return f"the customer pays {format_money(difference)} more, charged to {method}{when}"
    if difference < 0:
        return f"{format_money(-difference)} is refunded to {method}{when}"
    return "there is no price difference"


def summarize_modify_items(args: SwapItems, session: Session | None = None) -> str:
    """Replace items of pending order X; the difference and where it goes."""
    tail = "Afterwards the order can no longer be modified or cancelled."

    def detailed(s: Session) -> str:
        text, difference = _swap_text(s, args)
        settle = _settlement(difference, args.payment_method_id, now=True)
        return f"In order {args.order_id}, replace {text}; {settle}. {tail}"

    plain = (
        f"In order {args.order_id}, replace items {_ids(args.item_ids)} with "
        f"{_ids(args.new_item_ids)}; the price difference is settled with "
        f"{args.payment_method_id}. {tail}"
    )
    return _with_data(session, detailed, plain, _order_owner(args.order_id))


def summarize_exchange(args: SwapItems, session: Session | None = None) -> str:
    """Request an exchange in delivered order X; the difference and where it goes."""
    tail = "The customer sends the old items back; the order cannot be changed again."

    def detailed(s: Session) -> str:
        text, difference = _swap_text(s, args)
        settle = _settlement(difference, args.payment_method_id, now=False)
        return f"Exchange in order {args.order_id}: {text}; {settle}. {tail}"

    plain = (
        f"Exchange in order {args.order_id}: items {_ids(args.item_ids)} for "
        f"{_ids(args.new_item_ids)}; the price difference is settled with "
        f"{args.payment_method_id}. {tail}"
    )
    return _with_data(session, detailed, plain, _order_owner(args.order_id))


def summarize_return(args: ReturnItems, session: Session | None = None) -> str:
    """Return items of delivered order X; the refund and where it goes."""
    head = f"Return items {_ids(args.item_ids)} of order {args.order_id}"

    def detailed(s: Session) -> str:
        order = get_order(s, args.order_id)
        items = order.get_items()
        picked = [items[p] for p in pick_items(order, args.item_ids)]
        amount = sum(item.price for item in picked)
        names = ", ".join(f"{item.name} {item.item_id}" for item in picked)
        return (
            f"Return {names} of order {args.order_id}; {format_money(amount)} is refunded to "
            f"{args.payment_method_id} once the items are received. "
            "The order cannot be changed again."
        )

    plain = (
        f"{head}; their price is refunded to {args.payment_method_id} once the items are "
        "received. The order cannot be changed again."
    )
    return _with_data(session, detailed, plain, _order_owner(args.order_id))


def summarize_user_address(args: ModifyUserAddress, session: Session | None = None) -> str:
    """Change the address on account X from its stored one to Y."""
    tail = f"to {_address_text(args)} (existing orders keep their shipping address)."

    def detailed(s: Session) -> str:
        user = get_user(s, args.user_id)
        return (
            f"Change the address on account {args.user_id} "
            f"from {_stored_address(user.get_address())} {tail}"
        )

    plain = f"Change the address on account {args.user_id} {tail}"
    return _with_data(session, detailed, plain, lambda _: args.user_id)
