"""The kiosk as a reader on an access-control panel: card credentials, Wiegand and OSDP."""
