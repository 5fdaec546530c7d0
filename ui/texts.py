"""Every text the GUI shows, in one place, keyed by language, ready for translators."""

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "app_title": "facegate",
        "welcome": "Welcome, {name}",
        "not_recognised": "Not recognised",
        "denied": "Access denied",
        "denied_reason": "{name}: {reason}",
        "come_closer": "Please come closer",
        "look_at_camera": "Please look at the camera",
        "hold_still": "Please hold still",
        "more_light": "Too dark or too bright here",
        "idle": "Look at the camera to enter",
        "door_open": "Door open",
        "door_closed": "Door locked",
        "camera_lost": "Camera unavailable - reconnecting",
        "admin": "Administration",
        "enter_pin": "Administrator PIN",
        "wrong_pin": "Wrong PIN",
        "people": "People",
        "search": "Search by name or id",
        "delete": "Delete",
        "enable": "Enable",
        "disable": "Disable",
        "confirm_delete": "Delete {name} ({id})? Their templates and consent records are erased; "
                          "their events are kept under a pseudonym. This cannot be undone.",
        "recent_events": "Recent events",
        "export_attendance": "Export attendance",
        "status": "Status",
        "back_to_kiosk": "Back to kiosk",
        "enroll": "Enroll a person",
        "change_pin": "Change PIN",
        "details": "Person",
        "consent": "Consent",
        "consent_text": "I agree that facegate stores a protected template of my face (never a photo) to "
                        "open doors and record attendance, until I withdraw or my access ends.",
        "consent_given_by": "Consent given by",
        "capture": "Capture",
        "review": "Review",
        "center_face": "Centre your face in the frame",
        "good_frame": "Good - {count} of {needed}",
        "turn_slightly": "Now turn slightly left or right",
        "from_files": "Enroll from photo files...",
        "duplicate_of": "This face already belongs to {other}",
        "ready_to_save": "Ready to save: {count} good image(s), median sharpness {sharpness:.0f}.",
        "saved": "{name} is enrolled",
        "id": "Id",
        "name": "Name",
        "role": "Role",
        "enabled": "Enabled",
        "templates": "Templates",
        "provider": "Models on {provider}",
        "store_status": "Store: {people} people",
        "camera_status": "Camera: {state}",
    },
}


def text(key: str, language: str = "en", **values) -> str:
    table = TEXTS.get(language, TEXTS["en"])
    return table.get(key, TEXTS["en"][key]).format(**values)
