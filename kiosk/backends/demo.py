"""The embedded demo library: a small ILS on its own SQLite file.

It is the kiosk's default backend when no SIP2 server is configured, so it
behaves like a real library system: 21-day loans, renewals up to three loan
periods in total and none while someone else waits for the item, loan limits
(adults 15, children 8), checkout refused over 10,00 € of fees, overdue fines
for adults, holds kept 3 working days on the holds shelf.

Loans and returns made at a kiosk while it could not reach the library are
recorded afterwards, never refused for the patron's account or the item's
holds (SIP2 "no block"): physical reality wins. Each recorded loan lists what
it would have been refused for (`CheckoutResult.conflicts`) for staff. Because
kiosks replay their outboxes independently, a late replay is placed in time:
a return that happened before the item's current loan began never ends that
loan, and a loan an earlier replay had to end is corrected when its real return
arrives.

Every write call is one database transaction that also records its answer
under the caller's `client_id`, so a repeated call (replay after a crash or a
kill -9) returns the first answer and never lends or returns twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from babel.numbers import format_currency
from sqlalchemy import (
    Date,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    String,
    Text,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from kiosk.backends.demo_data import HOME_BRANCH, SAMPLE_ITEMS, SAMPLE_PATRONS
from kiosk.circulation import (
    BackendStatus,
    BackendUnavailable,
    CheckinResult,
    CheckoutResult,
    HoldReady,
    Item,
    ItemState,
    ItemStatus,
    Loan,
    Patron,
    PatronResult,
    PatronSummary,
    Reason,
    RenewAllResult,
)
from kiosk.privacy import redact

log = logging.getLogger(__name__)

ADULT_LOAN_LIMIT = 15
CHILD_LOAN_LIMIT = 8
FEES_LIMIT_CENTS = 1000  # checkout refused at or above 10,00 €
FINE_PER_DAY_CENTS = 20  # adults only; membership and fines are free under 18
RENEWAL_PERIODS = 3  # 21-day loans may run 63 days in total (7 -> 21, bibliobus 28 -> 84)
HOLD_KEPT_WORKING_DAYS = 3
BUSY_TIMEOUT_S = 5.0


# --- database model -------------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class PatronRow(Base):
    __tablename__ = "patrons"

    card: Mapped[str] = mapped_column(String(32), primary_key=True)
    pin_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str]
    birth_year: Mapped[int]
    is_child: Mapped[bool]
    blocked: Mapped[bool] = mapped_column(default=False)
    expired: Mapped[bool] = mapped_column(default=False)
    fees_cents: Mapped[int] = mapped_column(default=0)


class ItemRow(Base):
    __tablename__ = "items"

    item_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str]
    author: Mapped[str] = mapped_column(default="")
    parts: Mapped[int] = mapped_column(default=1)
    reference_only: Mapped[bool] = mapped_column(default=False)
    owner_branch: Mapped[str] = mapped_column(String(16), default=HOME_BRANCH)


class LoanRow(Base):
    __tablename__ = "loans"
    # At most one open loan per item, enforced by the database itself.
    __table_args__ = (
        Index(
            "one_open_loan_per_item",
            "item_id",
            unique=True,
            sqlite_where=text("returned_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.item_id"))
    card: Mapped[str] = mapped_column(ForeignKey("patrons.card"), index=True)
    loaned_on: Mapped[dt.date] = mapped_column(Date)  # the renewal limit counts from here
    # When the loan began, to the second; NULL in files made before offline replays.
    loaned_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)
    due: Mapped[dt.date] = mapped_column(Date)
    renewals: Mapped[int] = mapped_column(default=0)
    returned_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)


class HoldRow(Base):
    __tablename__ = "holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.item_id"), index=True)
    card: Mapped[str] = mapped_column(ForeignKey("patrons.card"))
    placed_at: Mapped[dt.datetime] = mapped_column(DateTime)
    # Set when the item reaches the holds shelf; the hold lapses after this day.
    ready_until: Mapped[dt.date | None] = mapped_column(Date, default=None)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, default=None)


class TransactionRow(Base):
    """Every answered write call, keyed by the caller's idempotency key."""

    __tablename__ = "transactions"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    fingerprint: Mapped[str] = mapped_column(Text)
    result_json: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime)


# --- helpers --------------------------------------------------------------------------


def _pin_hash(card: str, pin: str) -> str:
    # Salted with the card so equal PINs do not look equal in the file.
    return hashlib.sha256(f"{card}:{pin}".encode()).hexdigest()


def format_eur(cents: int) -> str:
    """Money in the library system's own texts, Slovenian style: 1.234,50 €."""
    return format_currency(Decimal(cents) / 100, "EUR", locale="sl")


def _naive(when: dt.datetime) -> dt.datetime:
    """Local wall-clock time without tzinfo, the way the file stores times."""
    return when.astimezone().replace(tzinfo=None) if when.tzinfo else when


def add_working_days(day: dt.date, count: int) -> dt.date:
    """`count` working days (Monday to Friday) after `day`; public holidays ignored."""
    while count > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            count -= 1
    return day


def _add_missing_columns(conn: Any) -> None:
    """Columns added since a file was made (create_all adds tables, never columns)."""
    have = {row[1] for row in conn.exec_driver_sql("PRAGMA table_info(loans)")}
    if "loaned_at" not in have:
        conn.exec_driver_sql("ALTER TABLE loans ADD COLUMN loaned_at DATETIME")


def _item(row: ItemRow) -> Item:
    return Item(item_id=row.item_id, title=row.title, author=row.author, parts=row.parts)


def _result_to_json(result: CheckoutResult | CheckinResult) -> str:
    data: dict[str, Any] = {"reason": result.reason.value, "server_text": result.server_text}
    if result.item is not None:
        data["item"] = asdict(result.item)
    if isinstance(result, CheckoutResult):
        data["due"] = result.due.isoformat() if result.due else None
        if result.conflicts:
            data["conflicts"] = [c.value for c in result.conflicts]
    else:
        data["destination"] = result.destination
    return json.dumps(data, ensure_ascii=False)


def _result_from_json(kind: str, raw: str) -> CheckoutResult | CheckinResult:
    data = json.loads(raw)
    item = Item(**data["item"]) if data.get("item") else None
    reason = Reason(data["reason"])
    if kind == "checkin":
        return CheckinResult(reason, item, data["destination"], data["server_text"])
    due = dt.date.fromisoformat(data["due"]) if data.get("due") else None
    conflicts = tuple(Reason(c) for c in data.get("conflicts", ()))
    return CheckoutResult(reason, item, due, data["server_text"], conflicts)


@dataclass(frozen=True, slots=True)
class _Request:
    kind: str  # "checkout", "checkin", "renew"
    patron_id: str | None
    item_id: str
    when: dt.datetime
    offline_due: dt.date | None = None  # a loan made offline, recorded now (no block)
    offline: bool = False  # a return made offline

    def fingerprint(self) -> str:
        parts: list[Any] = [self.kind, self.patron_id, self.item_id, self.when.isoformat()]
        # Only offline requests carry more, so answers recorded before keep matching.
        if self.offline_due is not None:
            parts.append({"offline_due": self.offline_due.isoformat()})
        if self.offline:
            parts.append({"offline": True})
        return json.dumps(parts)


# What an offline loan would have been refused for, in the order results list them.
CONFLICT_ORDER: tuple[Reason, ...] = (
    Reason.ON_LOAN_TO_OTHER,
    Reason.RESERVED_FOR_OTHER,
    Reason.REFERENCE_ONLY,
    Reason.CARD_BLOCKED,
    Reason.CARD_EXPIRED,
    Reason.FEES_OVER_LIMIT,
    Reason.LOAN_LIMIT,
)


def _in_order(conflicts: set[Reason]) -> tuple[Reason, ...]:
    return tuple(c for c in CONFLICT_ORDER if c in conflicts)


def _loan_start(loan: LoanRow) -> dt.datetime:
    # Loans from before the loaned_at column began at some time that day: the day's start.
    return loan.loaned_at or dt.datetime.combine(loan.loaned_on, dt.time.min)


# --- the library ----------------------------------------------------------------------


class DemoLibrary:
    """A `CirculationBackend` on a local SQLite file, seeded with Slovenian sample data."""

    def __init__(
        self,
        db_path: Path | str,
        *,
        loan_days: int = 21,
        clock: Callable[[], dt.datetime] | None = None,
        seed: bool = True,
        home_branch: str = HOME_BRANCH,
    ) -> None:
        if loan_days < 1:
            raise ValueError(f"loan_days must be at least 1, not {loan_days}")
        self.db_path = Path(db_path)
        self.loan_days = loan_days
        self.max_loan_days = RENEWAL_PERIODS * loan_days
        self.home_branch = home_branch
        self._clock = clock or dt.datetime.now
        self._closed = False
        self._engine = self._open_engine()
        # Reads start a deferred transaction so they never wait behind a writer's lock.
        self._read_engine = self._engine.execution_options(demo_read_only=True)
        try:
            with self._guard("prepare"):
                with self._engine.begin() as conn:
                    Base.metadata.create_all(conn)
                    _add_missing_columns(conn)
                if seed:
                    self._seed_if_empty()
        except BackendUnavailable:
            self._engine.dispose()
            raise

    # -- set-up --

    def _open_engine(self) -> Engine:
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BackendUnavailable(
                f"demo library: cannot create folder {self.db_path.parent}: {exc.strerror}"
            ) from None
        if self.db_path.is_dir():
            raise BackendUnavailable(f"demo library: {self.db_path} is a folder, not a file")
        # URL.create, not an f-string: a path may hold "?" or "%".
        url = URL.create("sqlite", database=str(self.db_path))
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Take transaction control from the sqlite3 module so BEGIN is ours (below).
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")  # a confirmed loan survives power loss
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # Writers take the write lock up front: two kiosks (or processes) on one file
            # then queue instead of failing on a read-to-write lock upgrade.
            read_only = conn.get_execution_options().get("demo_read_only", False)
            conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")

        return engine

    def _seed_if_empty(self) -> None:
        today = self._clock().date()
        placed = _naive(self._clock()) - dt.timedelta(days=2)
        with Session(self._engine) as s, s.begin():
            if s.scalar(select(func.count()).select_from(PatronRow)):
                return
            for p in SAMPLE_PATRONS:
                s.add(
                    PatronRow(
                        card=p.card,
                        pin_hash=_pin_hash(p.card, p.pin),
                        name=p.name,
                        birth_year=p.birth_year,
                        is_child=p.is_child,
                        blocked=p.blocked,
                        expired=p.expired,
                        fees_cents=p.fees_cents,
                    )
                )
            for i in SAMPLE_ITEMS:
                s.add(
                    ItemRow(
                        item_id=i.item_id,
                        title=i.title,
                        author=i.author,
                        parts=i.parts,
                        reference_only=i.reference_only,
                        owner_branch=i.owner_branch,
                    )
                )
            s.flush()
            # Existing loans: a reserved one already overdue, the others mid-period.
            for n, i in enumerate(it for it in SAMPLE_ITEMS if it.on_loan_to):
                loaned_on = today - dt.timedelta(days=25 if i.hold_for else 10 + n)
                s.add(
                    LoanRow(
                        item_id=i.item_id,
                        card=i.on_loan_to,
                        loaned_on=loaned_on,
                        loaned_at=dt.datetime.combine(loaned_on, dt.time(9, 0)),
                        due=loaned_on + dt.timedelta(days=self.loan_days),
                    )
                )
            for i in SAMPLE_ITEMS:
                if i.hold_for:
                    s.add(HoldRow(item_id=i.item_id, card=i.hold_for, placed_at=placed))
        log.info(
            "demo library seeded: %d patrons, %d items", len(SAMPLE_PATRONS), len(SAMPLE_ITEMS)
        )

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn database failures into one plain BackendUnavailable."""
        if self._closed:
            raise BackendUnavailable("demo library is closed")
        try:
            yield
        except SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            log.warning("demo library %s failed: %s", action, cause)
            raise BackendUnavailable(
                f"demo library database {self.db_path} cannot be used ({action}): {cause}"
            ) from None

    def _read(self) -> Session:
        return Session(self._read_engine, expire_on_commit=False)

    def _write(self) -> Session:
        return Session(self._engine, expire_on_commit=False)

    # -- patrons --

    def identify(self, card: str, pin: str | None = None) -> PatronResult:
        card = card.strip()
        with self._guard("identify"), self._read() as s, s.begin():
            row = s.get(PatronRow, card) if card else None
            if row is None:
                return PatronResult(Reason.UNKNOWN_PATRON, server_text="no such card")
            if pin is not None and not hmac.compare_digest(
                row.pin_hash, _pin_hash(card, pin.strip())
            ):
                return PatronResult(Reason.WRONG_PIN, server_text="PIN does not match")
            patron = self._patron(s, row)
        # Blocked and expired cards still return the patron so the screen can greet them.
        if row.blocked:
            return PatronResult(Reason.CARD_BLOCKED, patron, "card blocked (reported lost)")
        if row.expired:
            return PatronResult(Reason.CARD_EXPIRED, patron, "membership expired")
        # Fees over the limit do not stop identification: returns and the account still work.
        return PatronResult(Reason.OK, patron)

    def _patron(self, s: Session, row: PatronRow) -> Patron:
        return Patron(
            patron_id=row.card,
            name=row.name,
            is_child=row.is_child,
            loans_count=self._open_loan_count(s, row.card),
            loan_limit=CHILD_LOAN_LIMIT if row.is_child else ADULT_LOAN_LIMIT,
            fees_cents=row.fees_cents,
        )

    @staticmethod
    def _open_loan_count(s: Session, card: str) -> int:
        query = select(func.count()).where(LoanRow.card == card, LoanRow.returned_at.is_(None))
        return s.scalar(query) or 0

    # -- items --

    def item_info(self, item_id: str) -> Item | None:
        with self._guard("item_info"), self._read() as s, s.begin():
            row = s.get(ItemRow, item_id.strip())
            return _item(row) if row else None

    def item_status(self, item_id: str) -> ItemStatus | None:
        today = self._clock().date()
        with self._guard("item_status"), self._read() as s, s.begin():
            row = s.get(ItemRow, item_id.strip())
            if row is None:
                return None
            loan = s.scalar(
                select(LoanRow).where(LoanRow.item_id == row.item_id, LoanRow.returned_at.is_(None))
            )
            waiting = s.scalars(
                select(HoldRow)
                .where(HoldRow.item_id == row.item_id, HoldRow.closed_at.is_(None))
                .where((HoldRow.ready_until.is_(None)) | (HoldRow.ready_until >= today))
            ).all()
            if loan is not None:  # first: a reference item lent offline is still out
                state = ItemState.ON_LOAN
            elif row.reference_only:
                state = ItemState.NOT_FOR_LOAN
            elif any(h.ready_until is not None for h in waiting):
                state = ItemState.ON_HOLD_SHELF
            else:
                state = ItemState.AVAILABLE
            return ItemStatus(
                item=_item(row),
                state=state,
                due=loan.due if loan else None,
                holds_queue=len(waiting),
                location=row.owner_branch,
            )

    def summary(self, patron_id: str) -> PatronSummary | None:
        """Loans (with overdue marks), holds ready on the shelf, and fees."""
        card, today = patron_id.strip(), self._clock().date()
        with self._guard("summary"), self._read() as s, s.begin():
            row = s.get(PatronRow, card) if card else None
            if row is None:
                return None
            patron = self._patron(s, row)
            loans = s.execute(
                select(ItemRow, LoanRow.due)
                .join(LoanRow, LoanRow.item_id == ItemRow.item_id)
                .where(LoanRow.card == card, LoanRow.returned_at.is_(None))
                .order_by(LoanRow.due, ItemRow.item_id)
            ).all()
            ready = s.execute(
                select(ItemRow, HoldRow.ready_until)
                .join(HoldRow, HoldRow.item_id == ItemRow.item_id)
                .where(HoldRow.card == card, HoldRow.closed_at.is_(None))
                .where(HoldRow.ready_until.is_not(None), HoldRow.ready_until >= today)
                .order_by(HoldRow.ready_until)
            ).all()
            return PatronSummary(
                patron=patron,
                loans=tuple(Loan(_item(i), due, overdue=due < today) for i, due in loans),
                holds_ready=tuple(
                    HoldReady(_item(i), pickup_location=self.home_branch, until=until)
                    for i, until in ready
                ),
                fees_cents=row.fees_cents,
            )

    def renew_all(self, patron_id: str, *, client_id: str, when: dt.datetime) -> RenewAllResult:
        """Renew every loan; each item is its own idempotent transaction."""
        summary = self.summary(patron_id)
        if summary is None:
            return RenewAllResult(Reason.UNKNOWN_PATRON, server_text="no such card")
        results = tuple(
            self.renew(
                patron_id,
                loan.item.item_id,
                client_id=f"{client_id}:{loan.item.item_id}",
                when=when,
            )
            for loan in summary.loans
        )
        return RenewAllResult(Reason.OK, results)

    def holds_waiting(self, patron_id: str) -> list[str]:
        """Items the patron reserved that are not on the holds shelf yet (SIP2's CD list)."""
        query = (
            select(HoldRow.item_id)
            .where(HoldRow.card == patron_id.strip(), HoldRow.closed_at.is_(None))
            .where(HoldRow.ready_until.is_(None))
            .order_by(HoldRow.placed_at, HoldRow.id)
        )
        with self._guard("holds_waiting"), self._read() as s, s.begin():
            return list(s.scalars(query))

    def loans(self, patron_id: str) -> list[tuple[Item, dt.date]]:
        """The patron's current loans with their due dates, soonest first."""
        query = (
            select(ItemRow, LoanRow.due)
            .join(LoanRow, LoanRow.item_id == ItemRow.item_id)
            .where(LoanRow.card == patron_id.strip(), LoanRow.returned_at.is_(None))
            .order_by(LoanRow.due, ItemRow.item_id)
        )
        with self._guard("loans"), self._read() as s, s.begin():
            return [(_item(item), due) for item, due in s.execute(query)]

    # -- circulation (idempotent writes) --

    # `resumed` needs no special care here: a repeated client_id gets its first answer.
    def checkout(
        self,
        patron_id: str,
        item_id: str,
        *,
        client_id: str,
        when: dt.datetime,
        resumed: bool = False,
        offline_due: dt.date | None = None,
    ) -> CheckoutResult:
        """Lend now; with `offline_due`, record a loan the kiosk made offline at `when`."""
        request = _Request("checkout", patron_id.strip(), item_id.strip(), when, offline_due)
        apply = self._do_checkout if offline_due is None else self._do_offline_checkout
        return cast(CheckoutResult, self._transact(client_id, request, apply))

    def renew(
        self,
        patron_id: str,
        item_id: str,
        *,
        client_id: str,
        when: dt.datetime,
        resumed: bool = False,
    ) -> CheckoutResult:
        request = _Request("renew", patron_id.strip(), item_id.strip(), when)
        return cast(CheckoutResult, self._transact(client_id, request, self._do_renew))

    def checkin(
        self,
        item_id: str,
        *,
        client_id: str,
        when: dt.datetime,
        resumed: bool = False,
        offline: bool = False,
    ) -> CheckinResult:
        """Take an item back at `when` (with `offline`, a return the kiosk took offline)."""
        request = _Request("checkin", None, item_id.strip(), when, offline=offline)
        apply = self._do_offline_checkin if offline else self._do_checkin
        return cast(CheckinResult, self._transact(client_id, request, apply))

    def blocked_cards(self) -> tuple[str, ...]:
        """Cards whose holder may not borrow whatever the item: blocked (reported lost)
        and expired ones, the card-level refusals identify() reports. Fees are left out:
        they are paid and change during an outage, and offline limits bound the risk."""
        query = (
            select(PatronRow.card)
            .where(PatronRow.blocked.is_(True) | PatronRow.expired.is_(True))
            .order_by(PatronRow.card)
        )
        with self._guard("blocked_cards"), self._read() as s, s.begin():
            return tuple(s.scalars(query))

    def _transact(
        self,
        client_id: str,
        request: _Request,
        apply: Callable[[Session, _Request], CheckoutResult | CheckinResult],
    ) -> CheckoutResult | CheckinResult:
        """Apply `request` once per client_id; the change and its answer commit together."""
        client_id = client_id.strip()
        if not client_id:
            raise ValueError("client_id is required (the outbox row's UUID)")
        with self._guard(request.kind), self._write() as s, s.begin():
            seen = s.get(TransactionRow, client_id)
            if seen is not None:
                if seen.kind == request.kind and seen.fingerprint == request.fingerprint():
                    return _result_from_json(seen.kind, seen.result_json)
                text_ = (
                    f"client_id {client_id} was already used for another request "
                    f"({seen.kind}); nothing was done"
                )
                log.warning("demo library: %s", text_)
                if request.kind == "checkin":
                    return CheckinResult(Reason.OTHER, destination="staff", server_text=text_)
                return CheckoutResult(Reason.OTHER, server_text=text_)
            result = apply(s, request)
            s.add(
                TransactionRow(
                    client_id=client_id,
                    kind=request.kind,
                    fingerprint=request.fingerprint(),
                    result_json=_result_to_json(result),
                    recorded_at=_naive(self._clock()),
                )
            )
        log.info(
            "demo library %s %s item %s: %s",
            request.kind,
            redact(request.patron_id) if request.patron_id else "-",
            request.item_id,
            result.reason.value,
        )
        return result

    @staticmethod
    def _open_loan(s: Session, item_id: str) -> LoanRow | None:
        query = select(LoanRow).where(LoanRow.item_id == item_id, LoanRow.returned_at.is_(None))
        return s.scalars(query).first()

    @staticmethod
    def _open_holds(s: Session, item_id: str, today: dt.date) -> list[HoldRow]:
        """The item's hold queue in order, skipping holds that lapsed on the holds shelf."""
        query = (
            select(HoldRow)
            .where(HoldRow.item_id == item_id, HoldRow.closed_at.is_(None))
            .where((HoldRow.ready_until.is_(None)) | (HoldRow.ready_until >= today))
            .order_by(HoldRow.placed_at, HoldRow.id)
        )
        return list(s.scalars(query))

    def _first_hold(self, s: Session, item_id: str, today: dt.date) -> HoldRow | None:
        return next(iter(self._open_holds(s, item_id, today)), None)

    def _card_refusal(self, patron: PatronRow) -> CheckoutResult | None:
        if patron.blocked:
            return CheckoutResult(Reason.CARD_BLOCKED, server_text="card blocked")
        if patron.expired:
            return CheckoutResult(Reason.CARD_EXPIRED, server_text="membership expired")
        if patron.fees_cents >= FEES_LIMIT_CENTS:
            return CheckoutResult(
                Reason.FEES_OVER_LIMIT,
                server_text=f"fees {format_eur(patron.fees_cents)} "
                f"(limit {format_eur(FEES_LIMIT_CENTS)})",
            )
        return None

    def _do_checkout(self, s: Session, r: _Request) -> CheckoutResult:
        item_row = s.get(ItemRow, r.item_id)
        if item_row is None:
            return CheckoutResult(Reason.UNKNOWN_ITEM, server_text="no such item")
        item = _item(item_row)
        if item_row.reference_only:
            return CheckoutResult(Reason.REFERENCE_ONLY, item, server_text="reading room only")
        patron = s.get(PatronRow, r.patron_id or "")
        if patron is None:
            return CheckoutResult(Reason.UNKNOWN_PATRON, item, server_text="no such card")
        refusal = self._card_refusal(patron)
        if refusal is not None:
            return CheckoutResult(refusal.reason, item, server_text=refusal.server_text)
        loan = self._open_loan(s, item.item_id)
        if loan is not None and loan.card == patron.card:
            return CheckoutResult(
                Reason.ALREADY_ON_LOAN_TO_YOU, item, loan.due, "already on loan to this patron"
            )
        if loan is not None:
            return CheckoutResult(
                Reason.ON_LOAN_TO_OTHER, item, server_text="on loan to another patron"
            )
        today = _naive(r.when).date()  # the library's local day, whatever zone `when` is in
        hold = self._first_hold(s, item.item_id, today)
        if hold is not None and hold.card != patron.card:
            return CheckoutResult(
                Reason.RESERVED_FOR_OTHER, item, server_text="reserved for another patron"
            )
        limit = CHILD_LOAN_LIMIT if patron.is_child else ADULT_LOAN_LIMIT
        if self._open_loan_count(s, patron.card) >= limit:
            return CheckoutResult(Reason.LOAN_LIMIT, item, server_text=f"loan limit {limit}")
        if hold is not None:  # this patron's own hold is fulfilled by the loan
            hold.closed_at = _naive(r.when)
        due = today + dt.timedelta(days=self.loan_days)
        s.add(
            LoanRow(
                item_id=item.item_id,
                card=patron.card,
                loaned_on=today,
                loaned_at=_naive(r.when),
                due=due,
            )
        )
        return CheckoutResult(Reason.OK, item, due)

    def _do_renew(self, s: Session, r: _Request) -> CheckoutResult:
        item_row = s.get(ItemRow, r.item_id)
        if item_row is None:
            return CheckoutResult(Reason.UNKNOWN_ITEM, server_text="no such item")
        item = _item(item_row)
        patron = s.get(PatronRow, r.patron_id or "")
        if patron is None:
            return CheckoutResult(Reason.UNKNOWN_PATRON, item, server_text="no such card")
        loan = self._open_loan(s, item.item_id)
        if loan is None:
            return CheckoutResult(Reason.NOT_ON_LOAN, item, server_text="item is not on loan")
        if loan.card != patron.card:
            return CheckoutResult(
                Reason.ON_LOAN_TO_OTHER, item, server_text="on loan to another patron"
            )
        refusal = self._card_refusal(patron)
        if refusal is not None:
            return CheckoutResult(refusal.reason, item, loan.due, refusal.server_text)
        today = _naive(r.when).date()  # the library's local day, whatever zone `when` is in
        hold = self._first_hold(s, item.item_id, today)
        if hold is not None and hold.card != patron.card:
            return CheckoutResult(
                Reason.RESERVED_FOR_OTHER, item, loan.due, "reserved for another patron: no renewal"
            )
        new_due = today + dt.timedelta(days=self.loan_days)
        last_day = loan.loaned_on + dt.timedelta(days=self.max_loan_days)
        if new_due > last_day:
            return CheckoutResult(
                Reason.RENEWAL_LIMIT,
                item,
                loan.due,
                f"loans run at most {self.max_loan_days} days (until {last_day.isoformat()})",
            )
        loan.due = max(new_due, loan.due)
        loan.renewals += 1
        return CheckoutResult(Reason.OK, item, loan.due)

    def _do_checkin(self, s: Session, r: _Request) -> CheckinResult:
        item_row = s.get(ItemRow, r.item_id)
        if item_row is None:
            return CheckinResult(
                Reason.UNKNOWN_ITEM, destination="staff", server_text="no such item"
            )
        item = _item(item_row)
        today = _naive(r.when).date()  # the library's local day, whatever zone `when` is in
        loan = self._open_loan(s, item.item_id)
        notes: list[str] = []
        if loan is not None:
            loan.returned_at = _naive(r.when)
            notes.append(self._charge_overdue(s, loan, today))
        hold = self._first_hold(s, item.item_id, today)
        if hold is not None:
            if hold.ready_until is None:
                hold.ready_until = add_working_days(today, HOLD_KEPT_WORKING_DAYS)
            destination = "holds_shelf"
            notes.append(f"hold kept until {hold.ready_until.isoformat()}")
        elif item_row.owner_branch != self.home_branch:
            destination = "other_branch"
            notes.append(f"belongs to branch {item_row.owner_branch}")
        else:
            destination = "shelf"
        reason = Reason.OK if loan is not None else Reason.NOT_ON_LOAN
        if loan is None:
            notes.insert(0, "item was not on loan")
        return CheckinResult(reason, item, destination, "; ".join(n for n in notes if n))

    def _charge_overdue(self, s: Session, loan: LoanRow, today: dt.date) -> str:
        days_late = (today - loan.due).days
        if days_late <= 0:
            return ""
        patron = s.get(PatronRow, loan.card)
        if patron is None or patron.is_child:
            return f"{days_late} days overdue, no fine (child)"
        fine = days_late * FINE_PER_DAY_CENTS
        patron.fees_cents += fine
        return f"{days_late} days overdue, fine {format_eur(fine)}"

    # -- offline replays (no block) --

    @staticmethod
    def _card_conflicts(patron: PatronRow) -> set[Reason]:
        found = set()
        if patron.blocked:
            found.add(Reason.CARD_BLOCKED)
        if patron.expired:
            found.add(Reason.CARD_EXPIRED)
        if patron.fees_cents >= FEES_LIMIT_CENTS:
            found.add(Reason.FEES_OVER_LIMIT)
        return found

    def _do_offline_checkout(self, s: Session, r: _Request) -> CheckoutResult:
        """Record a loan made at the kiosk at `r.when`; refused only when it cannot be."""
        assert r.offline_due is not None
        at, due = _naive(r.when), r.offline_due
        item_row = s.get(ItemRow, r.item_id)
        if item_row is None:
            return CheckoutResult(Reason.UNKNOWN_ITEM, server_text="no such item")
        item = _item(item_row)
        patron = s.get(PatronRow, r.patron_id or "")
        if patron is None:
            return CheckoutResult(Reason.UNKNOWN_PATRON, item, server_text="no such card")
        conflicts = self._card_conflicts(patron)
        if item_row.reference_only:
            conflicts.add(Reason.REFERENCE_ONLY)
        loan = self._open_loan(s, item.item_id)
        if loan is not None and _loan_start(loan) > at:
            # Lent again after this loan began, so it came back in between: recorded as
            # ended then, and corrected when its own return is replayed.
            ended = _loan_start(loan)
            past = LoanRow(
                item_id=item.item_id,
                card=patron.card,
                loaned_on=at.date(),
                loaned_at=at,
                due=due,
                returned_at=ended,
            )
            s.add(past)
            notes = [f"offline loan recorded as ended by {ended:%Y-%m-%d %H:%M}, when lent again"]
            notes.append(self._charge_overdue(s, past, ended.date()))
            text = "; ".join(n for n in notes if n)
            return CheckoutResult(Reason.OK, item, due, text, _in_order(conflicts))
        today = at.date()
        if loan is not None and loan.card == patron.card:
            # The library already has this patron's loan: nothing more to record.
            hold = self._first_hold(s, item.item_id, today)
            if hold is not None and hold.card != patron.card:
                conflicts.add(Reason.RESERVED_FOR_OTHER)
            text = "already on loan to this patron"
            return CheckoutResult(Reason.OK, item, loan.due, text, _in_order(conflicts))
        notes = ["offline loan recorded"]
        if loan is not None:
            # The item is with this patron now, so the other patron's loan had ended.
            loan.returned_at = at
            conflicts.add(Reason.ON_LOAN_TO_OTHER)
            notes.append(f"loan of another patron ended at {at:%Y-%m-%d %H:%M}")
            notes.append(self._charge_overdue(s, loan, today))
        hold = self._first_hold(s, item.item_id, today)
        if hold is not None and hold.card != patron.card:
            conflicts.add(Reason.RESERVED_FOR_OTHER)
        for waiting in self._open_holds(s, item.item_id, today):
            if waiting.card == patron.card:
                waiting.closed_at = at  # fulfilled by this loan
            else:
                waiting.ready_until = None  # off the holds shelf: waiting for the return
        limit = CHILD_LOAN_LIMIT if patron.is_child else ADULT_LOAN_LIMIT
        if self._open_loan_count(s, patron.card) >= limit:
            conflicts.add(Reason.LOAN_LIMIT)
        s.add(
            LoanRow(item_id=item.item_id, card=patron.card, loaned_on=today, loaned_at=at, due=due)
        )
        text = "; ".join(n for n in notes if n)
        return CheckoutResult(Reason.OK, item, due, text, _in_order(conflicts))

    def _do_offline_checkin(self, s: Session, r: _Request) -> CheckinResult:
        """A return taken at the kiosk at `r.when`: an ordinary return at that time, unless
        the item's open loan began after it (then that loan is not the one returned)."""
        at = _naive(r.when)
        item_row = s.get(ItemRow, r.item_id)
        loan = self._open_loan(s, r.item_id)
        if item_row is None or (loan is not None and _loan_start(loan) <= at):
            return self._do_checkin(s, r)
        # A loan that was out at `at` and ended later (by a replayed loan of someone else).
        query = (
            select(LoanRow)
            .where(LoanRow.item_id == r.item_id, LoanRow.returned_at.is_not(None))
            .where(LoanRow.returned_at > at)
            .order_by(LoanRow.returned_at.desc(), LoanRow.id.desc())
        )
        earlier = next((ln for ln in s.scalars(query) if _loan_start(ln) <= at), None)
        if earlier is None:
            if loan is None:
                return self._do_checkin(s, r)
            return CheckinResult(
                Reason.NOT_ON_LOAN,
                _item(item_row),
                "shelf",
                "returned before its current loan began: that loan stays",
            )
        assert earlier.returned_at is not None
        ended = earlier.returned_at
        # Its fine was charged up to `ended`; the real return was earlier.
        refund = self._fine_cents(s, earlier, ended.date()) - self._fine_cents(
            s, earlier, at.date()
        )
        earlier.returned_at = at
        patron = s.get(PatronRow, earlier.card)
        if patron is not None and refund:
            patron.fees_cents -= refund
        text = (
            f"return recorded at {at:%Y-%m-%d %H:%M}"
            f" (the loan had been ended at {ended:%Y-%m-%d %H:%M})"
        )
        if refund:
            text += f"; fine reduced by {format_eur(refund)}"
        return CheckinResult(Reason.OK, _item(item_row), "shelf", text)

    @staticmethod
    def _fine_cents(s: Session, loan: LoanRow, day: dt.date) -> int:
        patron = s.get(PatronRow, loan.card)
        days_late = (day - loan.due).days
        if days_late <= 0 or patron is None or patron.is_child:
            return 0
        return days_late * FINE_PER_DAY_CENTS

    # -- health --

    def status(self) -> BackendStatus:
        if self._closed:
            return BackendStatus(online=False, detail="demo library is closed")
        started = time.perf_counter()
        try:
            with self._read() as s, s.begin():
                items = s.scalar(select(func.count()).select_from(ItemRow)) or 0
        except SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            return BackendStatus(online=False, detail=f"embedded demo library: {cause}")
        latency_ms = (time.perf_counter() - started) * 1000
        return BackendStatus(
            online=True,
            detail="embedded demo library",
            latency_ms=latency_ms,
            extra={"database": str(self.db_path), "items": str(items)},
        )

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._engine.dispose()
