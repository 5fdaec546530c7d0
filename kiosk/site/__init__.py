"""A site with many doors: the gallery in PostgreSQL, replicas at the kiosks, events through MQTT."""
