"""The account screen's list: the presenter's words as RecycleView rows.

One scrolling list holds the loans, the holds ready for pickup and the fees, so a
long account scrolls as one page; each row names its own widget class (`viewclass`)
and height. The layout of each row is in account.kv.
"""

from __future__ import annotations

from typing import Any

from kivy.metrics import dp

from kiosk.presenter import AccountTexts

HEADING_H = dp(64)
LOAN_H = dp(150)  # title, due date and up to two lines of detail, beside a Renew button
HOLD_H = dp(80)
FEES_H = dp(80)


def account_items(texts: AccountTexts) -> list[dict[str, Any]]:
    """Rows for the account list; none while the account cannot be shown (the screen
    says why instead, and "nothing on loan" would be untrue)."""
    if texts.unavailable:
        return []
    items: list[dict[str, Any]] = [_heading(texts.loans_heading, "account-loans-heading")]
    items += [
        {
            "viewclass": "AccountLoanRow",
            "height": LOAN_H,
            "item_id": row.item_id,
            "title": row.title,
            "due": row.due,
            "detail": row.detail,
            "tone": row.tone,
            "can_renew": row.can_renew,
        }
        for row in texts.loans
    ]
    if texts.holds:
        items.append(_heading(texts.holds_heading, "account-holds-heading"))
        items += [
            {
                "viewclass": "AccountLine",
                "height": HOLD_H,
                "text": hold,
                "tone": "good",
                "tid": f"hold-{i}",
            }
            for i, hold in enumerate(texts.holds)
        ]
    if texts.fees:
        items.append(
            {
                "viewclass": "AccountLine",
                "height": FEES_H,
                "text": texts.fees,
                "tone": "attention",
                "tid": "fees",
            }
        )
    return items


def _heading(text: str, tid: str) -> dict[str, Any]:
    return {"viewclass": "AccountHeading", "height": HEADING_H, "text": text, "tid": tid}
