"""The German words of shift notices (pure): the SMS, the e-mail and its subject."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from config.model import HotlineConfig
from foundation import dates
from foundation.models import Tier

SMS_CHANGES = 3  # changes listed in an SMS; the e-mail lists all
TIER_WORDS = {Tier.PRIMARY: "primär", Tier.BACKUP: "Hintergrund"}
SIGNATURE = "\n\n-- \nkonex hotline (automatische Nachricht)"


def local_day(moment: datetime) -> str:
    """'Do 26.11.' (moment already in the local zone)."""
    return dates.weekday_day(moment)


def day_words(moment: datetime, today: date) -> str:
    """'heute, Do 26.11.,' / 'morgen, Do 26.11.,' / 'am Do 26.11.' for a sentence."""
    if moment.date() == today:
        return f"heute, {local_day(moment)},"
    if moment.date() == today + timedelta(days=1):
        return f"morgen, {local_day(moment)},"
    return f"am {local_day(moment)}"


def duty_words(team: str, tier: Tier) -> str:
    return f"Ihre Rufbereitschaft ({team}, {TIER_WORDS[tier]})"


def upcoming_text(
    team: str, tier: Tier, start: datetime, end: datetime | None, now: datetime, zone: ZoneInfo
) -> str:
    begin = start.astimezone(zone)
    text = (
        f"{duty_words(team, tier)} beginnt {day_words(begin, now.astimezone(zone).date())} "
        f"um {begin:%H:%M} Uhr"
    )
    if end is not None:
        finish = end.astimezone(zone)
        day = "" if finish.date() == begin.date() else f"{local_day(finish)} "
        text += f" und endet {day}um {finish:%H:%M} Uhr"
    return text + "."


def handoff_text(
    team: str,
    tier: Tier,
    end: datetime,
    successor: str,
    open_voicemails: int,
    *,
    now: datetime,
    zone: ZoneInfo,
) -> str:
    finish = end.astimezone(zone)
    messages = (
        f"Offene Sprachnachrichten im Team: {open_voicemails}."
        if open_voicemails
        else "Keine offenen Sprachnachrichten im Team."
    )
    return (
        f"{duty_words(team, tier)} endet {day_words(finish, now.astimezone(zone).date())} "
        f"um {finish:%H:%M} Uhr. Danach übernimmt {successor}. {messages}"
    )


def change_lines(entries: Sequence[dict[str, str]], config: HotlineConfig) -> list[str]:
    """'Neu: Team Islamismus, primär, Do 26.11. 09:00 – Fr 27.11. 09:00', in start order."""
    zone = config.organisation.zone
    lines = []
    for entry in sorted(entries, key=lambda e: (e["start"], e["change"] != "removed")):
        start = datetime.fromisoformat(entry["start"]).astimezone(zone)
        end = datetime.fromisoformat(entry["end"]).astimezone(zone)
        what = "Neu" if entry["change"] == "new" else "Entfällt"
        lines.append(
            f"{what}: {team_name(config, entry['team'])}, {TIER_WORDS[Tier(entry['tier'])]}, "
            f"{local_day(start)} {start:%H:%M} – {local_day(end)} {end:%H:%M}"
        )
    return lines


def changed_sms(lines: Sequence[str]) -> str:
    shown = list(lines[:SMS_CHANGES])
    rest = len(lines) - len(shown)
    if rest:
        more = "1 weitere Änderung" if rest == 1 else f"{rest} weitere Änderungen"
        shown.append(f"{more} im Dienstplan")
    return "konex: Ihr Dienstplan wurde geändert. " + "; ".join(shown) + "."


def team_name(config: HotlineConfig, slug: str) -> str:
    team = config.teams.get(slug)
    return team.name if team is not None else slug


@dataclass(frozen=True, slots=True)
class Words:
    subject: str
    sms: str
    email: str
