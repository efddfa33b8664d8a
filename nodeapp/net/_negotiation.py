"""What a failed multistream-select negotiation means (py-libp2p 0.8.1)."""

from __future__ import annotations

from libp2p.protocol_muxer.exceptions import MultiselectClientError


def refused_protocol(error: BaseException | None) -> bool:
    """Whether a failed stream open means the peer answered that it does not serve the
    protocol. py-libp2p 0.8.1 raises MultiselectClientError for that, but also for a stream
    that broke or timed out during the negotiation (a peer shutting down): only a refusal has
    no cause and says so. A broken stream taken for a refusal would make a node fall back to
    an older protocol with a peer that serves the current one."""
    return (isinstance(error, MultiselectClientError) and error.__cause__ is None
            and str(error).startswith("protocols not supported"))
