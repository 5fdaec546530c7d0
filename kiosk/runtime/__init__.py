"""The kiosk at work: capture, tracking, decisions, door outputs, attendance, audit."""
