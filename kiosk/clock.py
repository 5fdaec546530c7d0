"""One clock rule: the store keeps UTC; schedules, validity dates and attendance days are the
site's, in its time zone (`site.timezone`, or the machine's own zone when it is empty)."""

from datetime import datetime, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kiosk.errors import ConfigError


def site_zone(name: str | None) -> tzinfo:
    """The named IANA zone (Europe/Berlin), or this machine's own zone."""
    if not name:
        return datetime.now().astimezone().tzinfo or timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"site.timezone {name!r}: not a known time zone; use an IANA name such as "
                          f"Europe/Berlin or America/New_York, or leave it empty for this machine's zone") from None


def site_now(zone: tzinfo) -> datetime:
    return datetime.now(timezone.utc).astimezone(zone)
