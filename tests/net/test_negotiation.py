"""Which failed stream negotiations mean that a peer does not serve a protocol: py-libp2p's
own negotiator, against a scripted far end."""

from __future__ import annotations

import pytest
from libp2p.abc import IMultiselectCommunicator
from libp2p.custom_types import TProtocol
from libp2p.protocol_muxer.exceptions import (
    MultiselectClientError,
    MultiselectCommunicatorError,
)
from libp2p.protocol_muxer.multiselect_client import MultiselectClient

from nodeapp.net._negotiation import refused_protocol


class ScriptedCommunicator(IMultiselectCommunicator):
    """The far end of a stream negotiation, as a script: each read gives the next answer, or
    fails as a stream that broke (a peer shutting down) does."""

    def __init__(self, answers: list[str | None]) -> None:
        self.answers = answers

    async def write(self, msg_str: str) -> None:
        pass

    async def read(self) -> str:
        answer = self.answers.pop(0)
        if answer is None:
            raise MultiselectCommunicatorError("stream closed")
        return answer


@pytest.mark.parametrize("answers, refused", [
    (["/multistream/1.0.0", "na"], True),  # the peer does not serve it
    (["/multistream/1.0.0", None], False),  # the stream broke while asking for it
    ([None], False),  # ... or before the handshake
    (["/multistream/1.0.0", "/other/1"], False),  # garbled answer
])
async def test_only_a_peer_that_answers_na_refuses_a_protocol(answers: list[str | None],
                                                              refused: bool) -> None:
    """py-libp2p's negotiation raises one error type for all of these; a broken stream taken
    for a refusal made a node fall back to the old protocol with a peer going down."""
    with pytest.raises(MultiselectClientError) as failed:
        await MultiselectClient().select_one_of([TProtocol("/nodeapp/x/2.0.0")],
                                                ScriptedCommunicator(answers))
    assert refused_protocol(failed.value) is refused
