"""HJ 212 (HJ 212-2017, HJ/T 212-2005) support: the codec and the Lihe Technology adapter.

Modules: ``crc`` (checksums), ``framing`` (stream -> frames), ``packet`` (parse and build data
segments and replies), ``reassembly`` (split packets), ``flags`` (data flag -> quality),
``factors`` (factor-code table), ``readings`` (packet -> readings) and ``lihe`` (the adapter).
"""
