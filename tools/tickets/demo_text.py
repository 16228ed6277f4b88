"""Words for the demo inbox: openings per kind of request, padding, long pasted threads."""

from __future__ import annotations

# {order}, {item}, {name}, {other} are filled from the customer's real demo orders.
REQUESTS: dict[str, list[tuple[str, str]]] = {
    "order_status": [
        (
            "Where is my order {order}?",
            "I ordered the {item} over a week ago and nothing has arrived.",
        ),
        (
            "Tracking not updating",
            "The tracking for {order} has said 'label created' for five days.",
        ),
        ("Delivery date?", "Can you tell me when {order} will arrive? It's a birthday present."),
    ],
    "cancellation": [
        ("Cancel order {order}", "Please cancel {order}, I ordered the {item} by mistake."),
        ("Please cancel", "I found the {item} cheaper elsewhere, cancel {order} before it ships."),
    ],
    "return": [
        ("Return {item}", "I'd like to return the {item} from {order}. It doesn't fit."),
        ("Return request for {order}", "The {item} is not what I expected. How do I send it back?"),
    ],
    "exchange": [
        ("Exchange size", "Can I exchange the {item} from {order} for a bigger size?"),
        ("Wrong colour", "I want to swap the {item} in {order} for another colour."),
    ],
    "refund": [
        ("Refund not received", "I returned {order} two weeks ago and still have no refund."),
        ("Where is my money", "You cancelled {order} but my card was not refunded yet."),
    ],
    "address_change": [
        ("Change address", "I moved last week. Please ship {order} to my new address instead."),
        ("Wrong address on {order}", "I typed the wrong street number, can you fix it?"),
    ],
    "payment": [
        ("Charged twice", "My card was charged twice for {order}. Please fix this now."),
        ("Use gift card", "Can I pay {order} with my gift card instead of the credit card?"),
    ],
    "damaged_item": [
        ("Broken on arrival", "The {item} from {order} arrived cracked. Photos attached."),
        ("Sparks from {item}", "The {item} from {order} sparked when I switched it on! Scary."),
        ("Missing parts", "The {item} box in {order} had no screws and no manual."),
    ],
    "account": [
        ("Can't log in", "I can't log in since yesterday, the reset email never comes."),
        ("Delete my data", "Please delete my account and all my personal data."),
    ],
    "product_question": [
        ("Question about {item}", "Is the {item} waterproof? Thinking of buying a second one."),
        ("Compatibility", "Does the {item} work with a 110V outlet? I'm travelling."),
    ],
    "complaint": [
        ("Terrible service", "Third time I write about {order} and nobody answers. Unacceptable."),
        ("Rude agent", "The person on the phone about {order} hung up on me."),
    ],
    "other": [
        ("Thanks!", "Just wanted to say the {item} is great. Thanks!"),
        ("Partnership offer", "We are a logistics startup and would love to work with you."),
    ],
}

PADDING = [
    "I have been a customer for years and never had a problem before.",
    "My daughter helped me write this because I am not good with computers.",
    "I already tried the help page but it did not answer my question.",
    "Please answer soon, I am travelling on Friday.",
    "I will leave a review depending on how this goes.",
    "The courier said it is not their problem and to contact you.",
    "I attached what I could find, let me know if you need anything else.",
    "This is really frustrating, I have spent an hour on this already.",
    "If this is not sorted I will ask my bank for a chargeback.",
    "No rush, whenever you have time.",
    "Sorry for the long message, I wanted to give you all the details.",
    "I called yesterday and was told someone would email me back, nobody did.",
]

THREAD_LINES = [
    "> On {day} you wrote: thank you for contacting us, we are looking into it.",
    "> Could you please confirm the order number and the email on the account?",
    "> We apologise for the inconvenience and appreciate your patience.",
    "> Your case has been escalated to the logistics team.",
    "Customer: I already gave you the order number twice, it is {order}.",
    "Customer: the {item} is still sitting in its box in my hallway.",
    "Customer: when I called, the line dropped after forty minutes on hold.",
    "Agent note (auto): ticket reopened by customer reply.",
    "Customer: my neighbour got the same {item} from you and theirs works fine.",
    "Customer: please do not send me another survey until this is fixed.",
]

DISCLAIMER = (
    "CONFIDENTIALITY NOTICE: This e-mail and any attachments are for the exclusive use of the "
    "intended recipient and may contain confidential information. If you received it in "
    "error, please notify the sender and delete it."
)

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
