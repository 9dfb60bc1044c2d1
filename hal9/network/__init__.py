"""Distributed mode: neurons on several HAL9 servers, connected through NATS.

Enabled by ``[network] nats_url`` in the configuration (needs ``pip install 'hal9[distributed]'``);
the service is :class:`hal9.network.service.NatsNetwork`, imported only then, so that this
package (and the server's ``/api/v1/network``) works without nats-py installed.
"""
