"""Every page on a phone and at 200 % zoom, in a real browser.

A counsellor's day at 390 × 844 (a phone, touch, the pages' own viewport): the sign-in page, the
dashboard, "Meine Dienste" with swaps waiting, the tasks, a conversation answered from the page, an
appointment booked through the form, the rota in week and month with its day list. Then those pages
and the public callback form at 360 and 414 px and at 640 × 400 with a device scale factor of 2 (a
1280 px window zoomed to 200 %), and a coordinator's pages at 390 px. On each: no sideways
scrolling (only the rota's timeline scrolls, inside its own box), every visible control outside
running text at least 44 × 44 px, axe-core without a serious or critical violation at that size,
and a screenshot tests/artifacts/phone-<page>[-<width>].png."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from foundation import crypto
from foundation.clock import utcnow
from foundation.dates import weekday_day
from foundation.models import (
    AppointmentMode,
    Client,
    Conversation,
    Counsellor,
    Shift,
    Team,
    User,
    Voicemail,
)
from hotline.relay.client_message import from_client
from hotline.relay.delivery import queue_reply
from hotline.relay.incoming import Incoming
from hotline.tasks.callback_requests import NewCallbackRequest, create_callback_request
from scheduling import appointments
from scheduling.offers import offering
from scheduling.shifts import Rota
from scheduling.swaps.asking import NewSwap, request_swap
from tests.browser.conftest import ARTIFACTS, Service, assert_clean, login, run_axe

PHONE = {"width": 390, "height": 844}
OTHER_PHONES = (360, 414)
ZOOMED = {"width": 640, "height": 400}  # 1280 × 800 at 200 %
TAP = 44  # px, WCAG 2.5.5; running text is exempt (2.5.8)

# The page's width against the window's: scrollWidth beyond clientWidth is a sideways scroll.
LAYOUT = """() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
    inner: window.innerWidth,
    wide: [...document.querySelectorAll('main *, header *')]
        .filter(e => !e.closest('.scroller') && e.getBoundingClientRect().right
            > document.documentElement.clientWidth + 1)
        .slice(0, 5).map(e => e.outerHTML.slice(0, 100)),
})"""

# Visible controls smaller than 44 × 44 px. A link in running text (its block has words besides
# the controls in it) is exempt; a check box or radio button is measured by its label.
SMALL_TARGETS = """min => {
    const controls = 'a[href], button, input:not([type=hidden]), select, textarea, summary';
    const width = document.documentElement.clientWidth;
    const block = e => {
        while (getComputedStyle(e).display === 'inline') e = e.parentElement;
        return e;
    };
    const inText = e => {
        if (e.tagName !== 'A' || getComputedStyle(e).display !== 'inline') return false;
        const words = block(e).cloneNode(true);
        words.querySelectorAll(controls + ', .visually-hidden').forEach(c => c.remove());
        return /[\\p{L}\\p{N}]/u.test(words.textContent);
    };
    const small = [];
    for (const e of document.querySelectorAll(controls)) {
        if (!e.checkVisibility({visibilityProperty: true}) || e.closest('.visually-hidden')) {
            continue;
        }
        const target = ['checkbox', 'radio'].includes(e.type) ? (e.closest('label') || e) : e;
        const box = target.getBoundingClientRect();
        if (box.right <= 0 || box.left >= width) continue;  // off screen: the skip link
        if (inText(e)) continue;
        if (box.height < min || box.width < min) {
            small.push(`${Math.round(box.width)}×${Math.round(box.height)} `
                + e.outerHTML.slice(0, 90));
        }
    }
    return small;
}"""


def check_phone(page: Any, where: str, name: str, width: int, *, whole: bool = False) -> list[str]:
    """The phone checks on the page as it is now; problems as FAIL lines (see assert_clean).
    The screenshot shows the first screen, or with `whole` the whole page."""
    found = []
    layout = page.evaluate(LAYOUT)
    if layout["inner"] != width or layout["scroll"] > layout["client"]:
        found.append(f"FAIL {where}: scrolls sideways: {layout}")
    found += [f"FAIL {where}: under {TAP} px: {e}" for e in page.evaluate(SMALL_TARGETS, TAP)]
    found += run_axe(page, where)
    suffix = "" if width == PHONE["width"] else f"-{width}"
    page.screenshot(path=str(ARTIFACTS / f"phone-{name}{suffix}.png"), full_page=whole)
    return found


@dataclass(frozen=True)
class Data:
    conversation: int
    pending: list[str]  # what "Meine Dienste" must show as waiting
    today: date
    client: int = 0  # a client record of Sabine's team (the demo's "Kranich")


def _free(session: Any, of: int, other: int, after: datetime, skip: tuple[int, ...] = ()) -> Shift:
    """A shift of `of` after `after` that no shift of `other` overlaps (so `other` may take it)."""
    theirs = list(session.scalars(select(Shift).where(Shift.counsellor_id == other)))
    for shift in session.scalars(
        select(Shift).where(Shift.counsellor_id == of, Shift.start_at > after).order_by(Shift.id)
    ):
        if shift.id in skip:
            continue
        if all(t.end_at <= shift.start_at or t.start_at >= shift.end_at for t in theirs):
            return shift
    raise AssertionError("no free shift in the demo rota")


def pending_for_sabine(session: Any, service: Service, names: dict[str, int]) -> list[str]:
    """What waits for Sabine on "Meine Dienste", made here; returns the words the page shows
    for each: a swap she asked Felix for, one Felix asked of her, and an open shift of his."""
    config = service.settings.config
    sabine, felix = names["Sabine Roth"], names["Felix Schäfer"]
    soon = utcnow() + timedelta(days=3)
    mine = _free(session, sabine, felix, soon)
    request_swap(session, config, sabine, NewSwap(mine.id, felix), actor="tests")
    his = _free(session, felix, sabine, soon)
    request_swap(session, config, felix, NewSwap(his.id, sabine, note="Arzttermin"), actor="tests")
    # An open shift of Felix's, offered to the team by the admin, that Sabine may take.
    offered = _free(session, felix, sabine, soon, skip=(his.id,))
    admin = session.scalars(select(User).where(User.username == "admin")).one()
    offering.offer(session, config, offered.id, admin.id, actor="tests")
    return [
        "An Felix Schäfer (Team Rechtsextremismus)",
        "Felix Schäfer bittet Sie",
        "Offene Dienste zum Übernehmen",
    ]


@pytest.fixture
def data(service: Service, rota: date) -> Data:
    """On top of the demo (see `rota`): Sabine's swaps, a callback request and a voicemail with
    a number for her team, a conversation with a reply, and two appointments of hers (one
    coming, one past to mark)."""
    settings = service.settings
    now = utcnow()
    with service.database.write() as session:
        names = {c.name: c.id for c in session.scalars(select(Counsellor))}
        pending = pending_for_sabine(session, service, names)
        request = NewCallbackRequest(
            "right-wing",
            "+4915123456789",
            "abends",
            "192.0.2.7",
            name="Sam",
            message="Bitte nach 18 Uhr, nicht auf dem Festnetz anrufen.",
        )
        create_callback_request(session, settings, request, Rota(settings.config), now)
        team = session.scalars(select(Team).where(Team.slug == "right-wing")).one()
        session.add(
            Voicemail(
                line="right-wing",
                team_id=team.id,
                recording_sid="RE" + "7" * 32,
                duration_seconds=95,
                caller_phone_enc=crypto.box(settings).seal("+4917611112222"),
            )
        )
        incoming = Incoming("right-wing", "+4917612345678", "Hallo, ich möchte reden.", "SM7")
        from_client(session, settings, incoming, now, Rota(settings.config))
        conversation = session.scalars(select(Conversation)).one()
        reply = "Gern. Wann passt es?"
        queue_reply(
            session, settings, conversation, reply, counsellor_id=names["Sabine Roth"], now=now
        )
        for days, pseudonym in ((2, "Kiefer"), (-3, "Ahorn")):
            start = now.replace(minute=0, second=0, microsecond=0) + timedelta(days=days)
            new = appointments.NewAppointment(
                names["Sabine Roth"],
                appointments.Client(pseudonym, "+4917622223333", sms_consent=days > 0),
                start,
                start + timedelta(hours=1),
                AppointmentMode.PHONE,
            )
            appointments.book(session, settings, new, actor="tests")
        client = session.scalars(select(Client.id).where(Client.pseudonym == "Kranich")).one()
        return Data(conversation.id, pending, rota, client)


def _window(chromium: Any, width: int, *, phone: bool = True) -> Any:
    """A new page, German, in Berlin: on a phone (touch, the pages' own viewport) `width` wide,
    or a desk window zoomed to 200 % (`width` CSS pixels, two device pixels each)."""
    height = PHONE["height"] if phone else ZOOMED["height"]
    context = chromium.new_context(
        viewport={"width": width, "height": height},
        device_scale_factor=2,
        is_mobile=phone,
        has_touch=phone,
        locale="de-DE",
        timezone_id="Europe/Berlin",
    )
    return context.new_page()


def test_a_counsellors_day_on_a_phone(service: Service, data: Data, chromium: Any) -> None:
    url, width = service.url, PHONE["width"]
    page = _window(chromium, width)
    page.goto(f"{url}/login")
    found = check_phone(page, "sign-in", "login", width, whole=True)
    page.keyboard.press("Shift+Tab")  # from the name field back to the skip link, now shown
    skip = page.locator("a.skip").bounding_box()
    assert skip is not None
    assert skip["x"] >= 0, skip
    assert min(skip["width"], skip["height"]) >= TAP, skip
    login(page, service, "sabine")
    found += check_phone(page, "dashboard", "dashboard", width, whole=True)

    page.goto(f"{url}/shifts/mine")
    for words in data.pending:
        assert page.get_by_text(words).first.is_visible(), words
    page.locator("summary", has_text="Tausch anfragen").first.click()  # a swap form, open
    found += check_phone(page, "Meine Dienste", "shifts", width, whole=True)

    page.goto(f"{url}/tasks")
    assert page.get_by_text("Bitte nach 18 Uhr").is_visible()
    found += check_phone(page, "tasks", "tasks", width, whole=True)

    page.goto(f"{url}/conversations")
    found += check_phone(page, "conversations", "conversations", width, whole=True)
    page.get_by_role("link", name="öffnen").first.click()
    page.get_by_label("Nachricht an die Person").fill("Morgen um 10 Uhr?")
    page.get_by_role("button", name="Senden").click()
    page.locator("li.message.out", has_text="Morgen um 10 Uhr?").wait_for()
    found += check_phone(page, "conversation, a reply sent", "conversation", width, whole=True)

    page.goto(f"{url}/appointments")
    form = page.locator("form[action='/appointments']")
    form.get_by_label("Pseudonym der Klientin oder des Klienten").fill("Birke")
    form.get_by_label("Telefon der Klientin oder des Klienten").fill("0176 5555 4444")
    form.get_by_label("Einverstanden mit SMS-Erinnerungen").check()
    form.get_by_label("Datum").fill((data.today + timedelta(days=5)).isoformat())
    form.get_by_label("Beginn (Uhrzeit").fill("14:30")
    form.get_by_label("Telefon", exact=True).check()
    form.get_by_role("button", name="Termin buchen").click()
    page.get_by_role("status").filter(has_text="Der Termin ist gebucht").wait_for()
    assert page.locator("td[data-label='Klient/in']", has_text="Birke").is_visible()
    found += check_phone(page, "appointments, one booked", "appointments", width, whole=True)

    page.goto(f"{url}/rota/right-wing")
    days = page.locator("section.days")
    assert days.is_visible()
    assert days.get_by_role("heading", name=weekday_day(data.today)).is_visible()
    assert days.locator("li.gap").count() >= 1  # the gap of today, in words
    # The timeline keeps a readable size and scrolls inside its own box.
    assert page.locator(".scroller").evaluate("e => e.scrollWidth > e.clientWidth + 100")
    found += check_phone(page, "rota", "rota", width, whole=True)
    page.get_by_role("link", name="Monatsansicht").click()
    assert page.locator("section.days h3").count() >= 28
    found += check_phone(page, "rota, month", "rota-month", width)
    page.context.close()
    assert_clean(found)


COUNSELLOR_PAGES = (
    ("dashboard", "/"),
    ("shifts", "/shifts/mine"),
    ("tasks", "/tasks"),
    ("conversations", "/conversations"),
    ("conversation", "/conversations/{conversation}"),
    ("appointments", "/appointments"),
    ("clients", "/clients"),
    ("client", "/clients/{client}"),
    ("rota", "/rota/right-wing"),
)
ADMIN_PAGES = (
    ("rota-coordinator", "/rota/islamism"),
    ("counsellors", "/counsellors"),
    ("calendar", "/calendar"),
    ("audit", "/audit"),
)


def _walk(page: Any, service: Service, width: int, data: Data, pages: Any) -> list[str]:
    found = []
    for name, path in pages:
        target = path.replace("{conversation}", str(data.conversation))
        page.goto(f"{service.url}{target}".replace("{client}", str(data.client)))
        found += check_phone(page, f"{name} at {width} px", name, width)
    return found


def test_the_pages_at_other_widths_and_at_200_percent(
    service: Service, data: Data, chromium: Any
) -> None:
    found = []
    for width, phone in [(w, True) for w in OTHER_PHONES] + [(ZOOMED["width"], False)]:
        page = _window(chromium, width, phone=phone)
        page.goto(f"{service.url}/login")
        found += check_phone(page, f"sign-in at {width} px", "login", width)
        page.goto(f"{service.url}/rueckruf/right-wing")  # the public form, for clients
        found += check_phone(page, f"callback form at {width} px", "callback", width)
        login(page, service, "sabine")
        found += _walk(page, service, width, data, COUNSELLOR_PAGES)
        page.context.close()
    # A coordinator's pages (an admin's), with all their forms, on the common phone.
    page = _window(chromium, PHONE["width"])
    login(page, service, "admin")
    found += _walk(page, service, PHONE["width"], data, ADMIN_PAGES)
    page.context.close()
    assert_clean(found)
