"""Smaller paths issue 14 found broken on the way (item 9)."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from conftest import OPEN_TIME


def test_one_click_unsubscribe_posted_as_multipart_form_data(system):
    """RFC 8058 lets the mail provider POST `List-Unsubscribe=One-Click` in multipart/form-data;
    Chalice answered 415 to that content type before the route listed it."""
    system.ingest("outlook")
    system.run_job("close-idle", OPEN_TIME + timedelta(days=3, minutes=1))
    system.run_job("transcripts", OPEN_TIME + timedelta(days=3, minutes=2))
    url = system.sent_mail()[-1]["List-Unsubscribe"].strip("<>")
    boundary = "----firstreply5f1c"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
            f"One-Click\r\n--{boundary}--\r\n").encode()
    done = system.client.http.post(urlsplit(url).path.removeprefix("/api"), body=body,
                                   headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert done.status_code == 200
    assert system.store.contact("email", "j.smith@contoso.com")["unsubscribed_at"]
