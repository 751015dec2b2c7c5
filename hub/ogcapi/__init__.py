"""OGC API - Features and EDR at ``/oapi``: pygeoapi embedded in the hub's app, fed by
providers that read the hub's store directly (:mod:`hub.ogcapi.providers`, :mod:`hub.ogcapi.edr`).
"""
