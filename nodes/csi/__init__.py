"""CSI formats shared by the node kinds and tools: ESP32 UDP packets (``esp32``), the UDP
socket and vitals items of the live ESP32 source (``esp32_udp``), per-node sequence tracking
(``sequence``), subcarrier selections such as LLTF or HT-LTF 56 (``subcarriers``), JSONL
recordings line by line (``recording``; the formats and drop reasons in ``formats``, the lines of
RuView's UDP recorder script in ``recording_legacy``, typed JSON field readers in
``json_fields``) and a recording's frames, filtered and looped (``frames``). No I/O at import;
only the recording readers and the UDP helper open anything.
"""
