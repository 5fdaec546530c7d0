"""Typed rows of the store, as the rest of the engine sees them."""

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class Person:
    """Who may pass: identity, role, whether and when and where they are allowed."""

    id: str
    display_name: str
    role: str = "staff"
    enabled: bool = True
    valid_from: date | None = None
    valid_until: date | None = None
    doors: tuple[str, ...] = ()
    photo_digest: str | None = None

    def metadata(self) -> tuple:
        """Everything an administrator sets, for comparing a gallery file with the store."""
        return (self.display_name, self.role, self.enabled, self.valid_from, self.valid_until, tuple(self.doors))


@dataclass(frozen=True)
class Consent:
    """Who consented, when, and to what; kept as long as the person's templates are."""

    given_by: str
    given_at: date
    scope: str


@dataclass(frozen=True)
class TemplateSet:
    """Protected templates of one person, with what made them."""

    templates: "object"  # (N, D) float32 numpy array
    model_id: str
    protector_id: str
    secret_version: int
    qualities: list[float] = field(default_factory=list)
