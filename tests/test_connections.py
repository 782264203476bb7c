"""One connection per container and channel: 100 sends through a sender open one TCP connection at
the channel's stand-in (it counts accepted connections), not one per message."""
from __future__ import annotations

import pytest

from functions.models import Acknowledgement


def _acks(channel: str, count: int):
    chats = {"telegram": "{}", "slack": "D0{}", "x": "{}"}[channel]
    return [Acknowledgement(channel=channel, chat_id=chats.format(1000 + i), text=f"ack {i}", language="en")
            for i in range(count)]


@pytest.mark.parametrize("channel", ["telegram", "slack", "x"])
def test_a_hundred_sends_open_one_connection(channel, request):
    # GIVEN the channel's API stand-in, counting the connections it accepts
    stand_in = request.getfixturevalue(f"{channel}_api")
    if channel == "telegram":
        from integrations.telegram import TelegramSender

        sender = TelegramSender("100:CONNECTIONS")   # a token no other test used: a fresh Bot
    elif channel == "slack":
        from integrations.slack import SlackSender

        sender = SlackSender("xoxb-connections")
    else:
        from integrations import x

        sender = x.XSender(x.credentials())
    stand_in.reset()
    # WHEN the worker's sender sends 100 messages, one after another
    for ack in _acks(channel, 100):
        sender.send(ack)
    # THEN all went out over one connection
    assert len(stand_in.calls) == 100
    assert stand_in.connections == 1
