"""CSI formats shared by the node kinds: ESP32 UDP packets (``esp32``) and JSONL recordings
(``recording``). Pure decoding: no I/O except ``recording``'s file readers, none at import.
"""
