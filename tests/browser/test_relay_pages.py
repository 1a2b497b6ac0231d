"""axe on the text relay's pages ("Nachrichten"): the list, a conversation with its reply form,
the form with an error, and the same conversation as an admin (without its content)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from foundation import users
from foundation.clock import utcnow
from foundation.models import Conversation, Role
from hotline.relay.client_message import from_client
from hotline.relay.delivery import queue_reply
from hotline.relay.incoming import Incoming
from scheduling.shifts import Rota
from tests.browser.conftest import (
    PASSWORD,
    Service,
    assert_clean,
    check_page,
    login,
    run_axe,
)
from tests.conftest import add_counsellor


@pytest.fixture
def conversation(service: Service) -> int:
    """A right-wing conversation with a message and a reply (nothing is sent: the rows are
    written directly), a counsellor account of that team and an admin."""
    settings = service.settings
    config = settings.config
    now = utcnow()
    with service.database.write() as session:
        person = add_counsellor(session, config, "right-wing", name="Sabine Roth")
        for name, role, counsellor_id in (
            ("sabine", Role.COUNSELLOR, person.id),
            ("admin", Role.ADMIN, None),
        ):
            users.create_user(
                session,
                config,
                users.NewUser(name, PASSWORD, role, counsellor_id=counsellor_id),
                actor="tests",
            )
        message = Incoming("right-wing", "+4917612345678", "Hallo, ich möchte reden.", "SM1")
        from_client(session, settings, message, now, Rota(settings.config))
        found = session.scalars(select(Conversation)).one()
        queue_reply(
            session, settings, found, "Gern. Wann passt es?", counsellor_id=person.id, now=now
        )
        return found.id


def test_axe_relay_pages(service: Service, conversation: int, browser_page: Any) -> None:
    page, url = browser_page, service.url
    login(page, service, "sabine")
    found = check_page(page, f"{url}/conversations", "conversations")
    found += check_page(page, f"{url}/conversations/{conversation}", "conversation")
    page.get_by_role("button", name="Senden").click()  # empty: the browser's own check
    page.locator("#f-body").evaluate("e => e.removeAttribute('required')")
    page.get_by_role("button", name="Senden").click()
    page.get_by_role("alert").wait_for()
    found += run_axe(page, "conversation, reply with error")
    login(page, service, "admin")
    found += check_page(page, f"{url}/conversations/{conversation}", "conversation (admin)")
    assert_clean(found)
