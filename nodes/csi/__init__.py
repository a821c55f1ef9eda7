"""CSI formats shared by the node kinds and tools: ESP32 UDP packets (``esp32``), JSONL
recordings line by line (``recording``) and a recording's frames, filtered and looped
(``frames``). No I/O at import; only the recording readers open files.
"""
