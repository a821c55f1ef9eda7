"""What the MQTT node kinds share: the broker URL and connection fields (``config``), and one
paho-mqtt client driven by the run's asyncio I/O loop (``link``). See docs/mqtt.md."""
