"""Generate the support-ticket intent dataset in OpenAI chat fine-tuning JSONL (deterministic).

    python examples/make_support_dataset.py [--seed 7] [--out examples/support_tickets]

Writes base.jsonl (small, narrow, noisily labelled: what version 1 learns from), train.jsonl
(the fine-tune data: more examples and phrasings) and eval.jsonl (held out; a quarter of its
tickets use phrasings that appear in no training file, so a score there measures generalisation).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

INTENTS: dict[str, list[str]] = {
    "billing": [
        "I was charged {amount} twice this month",
        "why is my invoice {amount} higher than last time",
        "there is a charge of {amount} on {date} that I do not recognise",
        "my card got billed {amount} but I am on the {plan} plan",
        "can you send me a copy of the invoice for {date}",
        "the VAT on my bill looks wrong",
        "please update the credit card you charge every month",
        "I need the receipt for my {plan} subscription payment",
        "the price on my statement does not match the pricing page",
        "my payment failed and now the account shows an overdue balance",
        "how do I change the billing email for invoices",
        "you billed me for 5 seats but we only have 3 users",
        "annual billing was supposed to be cheaper, my bill says {amount}",
        "why did my bank show a pending authorisation from you",
        "the company name on the tax invoice is misspelled",
        "I got an unexpected fee on my last statement",
    ],
    "refund": [
        "I want my money back for order {order}",
        "please refund the {amount} you took by mistake",
        "how long does a refund take to reach my card",
        "I returned the item last week and still have no refund",
        "can I get a refund for the unused months of my {plan} plan",
        "the product broke after two days, I would like a full refund",
        "refund request for order {order}, it was the wrong size",
        "you promised a refund on {date} and nothing arrived",
        "I was double charged, please reverse one of the payments",
        "I want to return this and get reimbursed",
        "my refund was approved but the amount is only half",
        "please credit {amount} back to my original payment method",
        "is it too late to ask for my money back after 30 days",
        "the seller agreed to reimburse me, where is the money",
        "I paid for express delivery that never happened, refund the difference",
        "chargeback or refund, which is faster for {amount}",
    ],
    "shipping": [
        "where is my package, order {order} has not arrived",
        "the tracking number for {order} has not updated in a week",
        "my parcel says delivered but it is not here",
        "when will order {order} ship",
        "the courier left my box at the wrong address",
        "can you ship to {country}",
        "delivery was supposed to be {date} and it is late",
        "the package arrived damaged and the box was crushed",
        "how much is express shipping to {country}",
        "only half of my order {order} was in the parcel",
        "can I pick up the order at a collection point instead",
        "the driver never rang the bell, now the parcel is back at the depot",
        "customs is holding my shipment, what do I do",
        "my order is stuck in transit since {date}",
        "tracking shows the parcel went to another city",
        "is there a way to speed up delivery of {order}",
    ],
    "login": [
        "I cannot log in to my account",
        "the password reset email never arrives",
        "it says my password is incorrect but I just changed it",
        "I am locked out after too many attempts",
        "two factor code is not accepted",
        "I lost my phone and cannot get the 2FA code",
        "the login page keeps redirecting me back to sign in",
        "my account email {email} is not recognised at sign in",
        "single sign-on with our company account stopped working",
        "I get signed out every few minutes",
        "the magic link to sign in has expired already",
        "how do I recover access, I forgot which email I used",
        "the authenticator app codes are rejected since the update",
        "I can sign in on my laptop but not on the phone",
        "captcha loops forever on the sign in screen",
        "my session token expired and I cannot get back in",
    ],
    "bug_report": [
        "the app crashes when I open the settings page",
        "the export button does nothing",
        "I get an error 500 when I save a report",
        "the dashboard shows the wrong numbers since {date}",
        "images do not load on the {platform} app",
        "the search returns results from other projects",
        "when I upload a CSV the columns are shifted",
        "the page freezes after I click on filters",
        "notifications arrive twice for every comment",
        "dark mode makes the text invisible on {platform}",
        "the date picker selects the day before the one I click",
        "after the latest update the editor loses my changes",
        "charts render blank in {platform}",
        "the API returns a timeout for every request since this morning",
        "copy and paste inserts strange characters",
        "sorting by name puts lowercase entries at the end",
    ],
    "cancel_subscription": [
        "please cancel my subscription",
        "I want to stop my {plan} plan at the end of the month",
        "how do I cancel, I cannot find the option",
        "do not renew my membership",
        "close my account and stop charging me",
        "I would like to end my trial before it converts",
        "we are moving to another tool, cancel our team plan",
        "turn off auto renewal for my {plan} plan",
        "unsubscribe me from the paid plan",
        "I want to downgrade to free and stop the subscription",
        "terminate the contract for our workspace",
        "I no longer need the service, cancel everything",
        "pause or cancel my membership, whichever is possible",
        "make sure I am not billed again, I am leaving",
        "stop my subscription effective {date}",
        "how can I opt out of the yearly renewal",
    ],
    "account_update": [
        "I need to change the email address on my account",
        "please update my shipping address to {address}",
        "how do I change my username",
        "update the phone number on my profile",
        "I moved, my new address is {address}",
        "can I merge my two accounts",
        "change the account owner to my colleague {email}",
        "I want to rename our workspace",
        "please correct the spelling of my name on the profile",
        "how do I add a second admin to the account",
        "switch the language of my account to Spanish",
        "update the company details in my profile",
        "transfer my account to a new email {email}",
        "delete my old address from the address book",
        "I need to change the time zone on my profile",
        "add a delivery address for my office at {address}",
    ],
    "feature_request": [
        "it would be great if you added a dark mode",
        "please add an option to export to Excel",
        "can you support integration with Slack",
        "I wish the calendar had a weekly view",
        "any plans to add offline mode on {platform}",
        "suggestion: let us schedule reports by email",
        "please allow more than 10 users on the {plan} plan",
        "could you add keyboard shortcuts for the editor",
        "we would love a public API for the dashboard",
        "feature idea: bulk edit for tasks",
        "would be nice to have two factor with hardware keys",
        "add support for custom fields on contacts",
        "can the mobile app get widgets on {platform}",
        "I would pay more for an audit log feature",
        "please consider a template gallery",
        "let us tag invoices with project codes",
    ],
}
OPENERS = ["", "", "Hi,", "Hello,", "Hey team,", "Good morning,", "URGENT:", "Quick question:"]
CONTEXT = [
    "",
    "",
    "",
    "I have been a customer for {years} years.",
    "My account email is {email}.",
    "This is the second time I am writing about this.",
    "I already tried the help center.",
    "It is quite frustrating.",
    "Order {order}, if that helps.",
    "I am on the {plan} plan.",
    "I use the {platform} app mostly.",
]
CLOSERS = ["", "", "Thanks.", "Thank you!", "Please help.", "Regards, {name}", "Cheers", "asap pls"]
# Sentences that mention another intent's vocabulary without being the request.
DISTRACTORS = [
    "I am not asking for a refund.",
    "Shipping was fine last time.",
    "Login works for me.",
    "The invoice itself is fine.",
    "I do not want to cancel.",
    "My address has not changed.",
    "This is not a bug I think.",
    "I love the new features otherwise.",
]
SLOTS = {
    "amount": ["$12.99", "€49", "$120", "£8.50", "$300", "€19.99"],
    "date": ["March 3", "last Friday", "the 14th", "yesterday", "12/05", "June 1"],
    "plan": ["Pro", "Basic", "Team", "Enterprise", "Starter"],
    "order": ["#48213", "A-99812", "100-2231", "#77120", "SO-5521"],
    "country": ["Canada", "Germany", "Brazil", "Japan", "Ireland"],
    "email": ["ana@example.com", "j.smith@mail.test", "ops@acme.test", "kim@corp.test"],
    "address": ["12 Oak Street, Leeds", "4 Rue Lafayette, Paris", "221 Pine Ave, Austin"],
    "platform": ["iOS", "Android", "web", "Windows", "Mac"],
    "years": ["2", "3", "5", "10"],
    "name": ["Ana", "John", "Priya", "Lee", "Marta"],
}
SYSTEM = "Classify the support ticket into one intent: " + ", ".join(INTENTS) + "."
BASE_PHRASINGS, TRAIN_PHRASINGS = 10, 12  # phrasings 12-15 appear only in eval


def ticket(rng: random.Random, phrase: str) -> str:
    parts = [rng.choice(OPENERS), phrase, rng.choice(CONTEXT)]
    if rng.random() < 0.25:
        parts.insert(rng.choice([1, 3]), rng.choice(DISTRACTORS))
    parts.append(rng.choice(CLOSERS))
    text = " ".join(p for p in parts if p)
    for slot, values in SLOTS.items():
        while "{" + slot + "}" in text:
            text = text.replace("{" + slot + "}", rng.choice(values), 1)
    return noisy(rng, text)


def noisy(rng: random.Random, text: str) -> str:
    """Typos, dropped punctuation and casing, as tickets are really typed."""
    words = []
    for word in text.split():
        if len(word) > 3 and rng.random() < 0.06:
            i = rng.randrange(1, len(word) - 1)
            word = rng.choice(
                [word[:i] + word[i + 1 :], word[:i] + word[i + 1] + word[i] + word[i + 2 :]]
            )
        words.append(word)
    text = " ".join(words)
    if rng.random() < 0.3:
        text = text.lower()
    if rng.random() < 0.2:
        text = text.replace(",", "").replace(".", "")
    return text


def sample(
    rng: random.Random, count: int, phrasings: range, label_noise: float
) -> list[dict[str, object]]:
    rows = []
    intents = list(INTENTS)
    for i in range(count):
        intent = intents[i % len(intents)]
        phrase = INTENTS[intent][rng.choice(phrasings)]
        label = rng.choice(intents) if rng.random() < label_noise else intent
        rows.append(record(ticket(rng, phrase), label))
    rng.shuffle(rows)
    return rows


def record(text: str, label: str) -> dict[str, object]:
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": text},
            {"role": "assistant", "content": label},
        ]
    }


def write(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} examples to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "support_tickets")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    write(args.out / "base.jsonl", sample(rng, 240, range(BASE_PHRASINGS), label_noise=0.15))
    write(args.out / "train.jsonl", sample(rng, 2400, range(TRAIN_PHRASINGS), label_noise=0.03))
    held_out = range(TRAIN_PHRASINGS, len(INTENTS["billing"]))
    eval_rows = sample(rng, 480, range(TRAIN_PHRASINGS), 0.0) + sample(rng, 160, held_out, 0.0)
    rng.shuffle(eval_rows)
    write(args.out / "eval.jsonl", eval_rows)


if __name__ == "__main__":
    main()
