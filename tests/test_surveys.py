"""Surveys on every channel: sent by the `surveys` job when due, answered where the customer is."""
from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import pytest


from conftest import load_fixture, update_from


def at(system, minutes):
    return system.clock.now() + timedelta(minutes=minutes)


def close_and_survey(system, idle_minutes):
    system.run_job("close-idle", at(system, idle_minutes + 1))
    return system.run_job("surveys", at(system, idle_minutes + 62))


def telegram_press(system, conversation_id, score, user=1111111, update_id=900000001, kind="csat"):
    update = {"update_id": update_id, "callback_query": {
        "id": f"cb{update_id}", "from": {"id": user, "is_bot": False, "first_name": "Olena"},
        "message": {"message_id": 5001, "chat": {"id": 1111111, "type": "private"}, "date": 1763806100,
                    "text": "How did we do?"},
        "chat_instance": "-892137", "data": f"{kind}:{conversation_id}:{score}"}}
    system.deliver(update)


def test_telegram_survey_buttons_and_answer(system):
    system.deliver(load_fixture("telegram", "text_private"))
    cid = system.store.chat("telegram", "1111111")["conversation_id"]
    report = close_and_survey(system, 30)
    assert report["done"] == 1
    question = system.sent()[-1]
    assert question.params["text"].startswith("Olena, як ми впоралися")
    keyboard = question.params["reply_markup"]["inline_keyboard"][0]
    assert [b["callback_data"] for b in keyboard] == [f"csat:{cid}:{n}" for n in range(1, 6)]
    assert all(len(b["callback_data"].encode()) <= 64 for b in keyboard)
    telegram_press(system, cid, 4)
    [answered] = system.telegram_api.sent("answerCallbackQuery")
    assert answered.params["text"] == "Дякуємо! Ваша оцінка: 4 з 5."
    assert system.telegram_api.sent("editMessageReplyMarkup")
    assert system.store.conversation(cid)["csat"] == 4
    telegram_press(system, cid, 5, update_id=900000002)            # answering again replaces it
    assert system.store.conversation(cid)["csat"] == 5
    assert len([c for c in system.sent() if c.params["text"].startswith("Вітаємо")]) == 1   # no new ack


def test_someone_elses_press_is_refused(system):
    system.deliver(load_fixture("telegram", "text_private"))
    cid = system.store.chat("telegram", "1111111")["conversation_id"]
    close_and_survey(system, 30)
    telegram_press(system, cid, 1, user=999)
    assert "csat" not in system.store.conversation(cid)


def test_slack_survey_buttons_are_replaced_by_the_answer(system):
    system.slack_api.add_user("U2147483697", "Ana Lima", first_name="Ana", locale="en-US")
    system.post_slack(load_fixture("slack", "message_im"))
    system.pump.drain()
    cid = system.store.chat("slack", "D024BE91L")["conversation_id"]
    close_and_survey(system, 30)
    question = system.slack_api.sent("chat.postMessage")[-1]
    actions = question.params["blocks"][1]
    assert [e["value"] for e in actions["elements"]] == [f"csat:{cid}:{n}" for n in range(1, 6)]
    click = load_fixture("slack", "block_actions")
    click["container"]["message_ts"] = "1763806300.000900"
    click["actions"][0]["value"] = f"csat:{cid}:5"
    body = urlencode({"payload": json.dumps(click)}).encode()
    assert system.post_slack(None, path="/webhooks/slack/interactions", raw=body).status_code == 200
    system.pump.drain()
    [update] = system.slack_api.sent("chat.update")
    assert update.params["ts"] == "1763806300.000900" and update.params["text"].startswith("Thank you! You rated us 5")
    assert system.store.conversation(cid)["csat"] == 5


def test_x_survey_is_answered_with_a_number_dm(system):
    system.post_x(load_fixture("x", "aaa_dm"))
    system.pump.drain()
    cid = system.store.chat("x", "3001969357")["conversation_id"]
    close_and_survey(system, 30)
    question = system.x_api.sent("dm")[-1]
    assert "1 (kötü) ile 5 (mükemmel) arasında bir sayıyla yanıtlayın" in question.params["text"]
    reply = load_fixture("x", "aaa_dm")
    reply["direct_message_events"][0]["id"] = "954491830116155500"
    reply["direct_message_events"][0]["message_create"]["message_data"]["text"] = " 4 "
    system.post_x(reply)
    system.pump.drain()
    assert system.store.conversation(cid)["csat"] == 4
    assert system.x_api.sent("dm")[-1].params["text"] == "Teşekkürler! Puanınız: 5 üzerinden 4."
    # the next "4" is an ordinary message again
    assert system.store.contact("x", "3001969357")["awaiting_survey"] == ""


def test_email_survey_links_get_shows_post_records(system):
    system.ingest("outlook")
    cid = system.store.get_event("email", system.ingest("outlook"))["decision"]["conversation_id"]
    report = close_and_survey(system, 3 * 24 * 60)
    assert report["done"] == 1
    survey = system.sent_mail()[-1]
    assert survey["Subject"] == "How did we do?" and survey["Auto-Submitted"] == "auto-generated"
    html = survey.get_body(preferencelist=("html",)).get_content()
    links = [part.split('"')[0] for part in html.split('href="')[1:]]
    assert len(links) == 5 and links[3].endswith("?score=4")
    url = urlsplit(links[3])
    path = url.path.removeprefix("/api")
    page = system.client.http.get(f"{path}?{url.query}")
    assert page.status_code == 200 and b'value="4" checked' in page.body
    assert "csat" not in system.store.conversation(cid)          # GET records nothing
    done = system.client.http.post(path, headers={"Content-Type": "application/x-www-form-urlencoded"},
                                   body=b"score=4")
    assert done.status_code == 200 and "rated us 4".encode() in done.body
    assert system.store.conversation(cid)["csat"] == 4
    bad = system.client.http.post(path, headers={"Content-Type": "application/x-www-form-urlencoded"},
                                  body=b"score=9")
    assert bad.status_code == 400


def test_forged_and_expired_survey_links(system):
    from datetime import datetime, timezone

    from functions import tokens

    assert system.client.http.get("/surveys/abc.def").status_code == 404
    old = tokens.make("survey", "C0NV", datetime(2020, 1, 1, tzinfo=timezone.utc), timedelta(days=14))
    assert system.client.http.get(f"/surveys/{old}").status_code == 410


def test_surveys_wait_for_the_customers_daytime(system):
    system.clock.current = system.clock.now().replace(hour=17, minute=0)   # 19:00 in Kyiv
    system.deliver(load_fixture("telegram", "text_private"))
    system.run_job("close-idle", at(system, 31))                             # closed 19:31, due 20:31
    report = system.run_job("surveys", at(system, 92))                       # 20:32 local: too late
    assert report["skipped"] == {"postponed": 1}
    assert system.run_job("surveys", at(system, 10 * 60))["done"] == 0      # 05:00 local: not yet due
    assert system.run_job("surveys", at(system, 14 * 60 + 5))["done"] == 1  # 09:05 local


def test_cooldown_and_sampling(system):
    first = load_fixture("telegram", "text_private")
    system.deliver(first)
    assert close_and_survey(system, 30)["done"] == 1

    def new_conversation_later(offset):
        system.clock.current = at(system, 3 * 60)
        system.deliver(update_from(first, first["update_id"] + offset, at=system.clock.now()))

    new_conversation_later(10)
    assert close_and_survey(system, 30)["skipped"] == {"cooldown": 1}
    system.use_settings(surveys={"enabled": True, "sampling": 0, "cooldown_days": 0})
    new_conversation_later(20)
    assert close_and_survey(system, 30)["skipped"] == {"not sampled": 1}


def test_two_survey_runs_at_once_ask_once(system, monkeypatch):
    system.deliver(load_fixture("telegram", "text_private"))
    system.run_job("close-idle", at(system, 31))
    first, second = system.run_job_racing("surveys", at(system, 92), monkeypatch)
    assert (second["done"], first["done"]) == (1, 0)
    assert first["skipped"] == {"claimed by another run": 1}
    assert len([c for c in system.sent() if "reply_markup" in c.params]) == 1


def test_nps_then_comment_on_telegram(system):
    system.use_settings(surveys={"enabled": True, "nps": True, "comment": True})
    first = load_fixture("telegram", "text_private")
    system.deliver(first)
    cid = system.store.chat("telegram", "1111111")["conversation_id"]
    close_and_survey(system, 30)
    telegram_press(system, cid, 5)
    nps_question = system.sent()[-1]
    assert nps_question.params["text"].startswith("Наскільки ймовірно, що ви порекомендуєте Acme")
    rows = nps_question.params["reply_markup"]["inline_keyboard"]
    assert [b["callback_data"] for row in rows for b in row] == [f"nps:{cid}:{n}" for n in range(11)]
    telegram_press(system, cid, 9, update_id=900000003, kind="nps")
    assert system.sent()[-1].params["text"] == "Бажаєте щось додати? Просто дайте відповідь на це повідомлення."
    system.deliver(update_from(first, first["update_id"] + 5, at=at(system, 100), message_id=1600,
                               text="Кур’єр був дуже ввічливий"))
    conversation = system.store.conversation(cid)
    assert (conversation["csat"], conversation["nps"], conversation["comment"]) == (5, 9, "Кур’єр був дуже ввічливий")
    assert system.sent()[-1].params["text"] == "Дякуємо за відгук!"
    assert system.store.chat("telegram", "1111111")["conversation_id"] == cid   # not a new conversation


def test_nps_by_number_on_x(system):
    system.use_settings(surveys={"enabled": True, "nps": True})
    system.post_x(load_fixture("x", "aaa_dm"))
    system.pump.drain()
    cid = system.store.chat("x", "3001969357")["conversation_id"]
    close_and_survey(system, 30)
    for number, event_id in (("3", "954491830116155600"), ("10", "954491830116155601")):
        reply = load_fixture("x", "aaa_dm")
        reply["direct_message_events"][0]["id"] = event_id
        reply["direct_message_events"][0]["message_create"]["message_data"]["text"] = number
        system.post_x(reply)
        system.pump.drain()
    conversation = system.store.conversation(cid)
    assert (conversation["csat"], conversation["nps"]) == (3, 10)
    assert "tavsiye etme olasılığınız" in system.x_api.sent("dm")[-2].params["text"]


def test_email_page_asks_nps_and_comment_in_one_form(system):
    system.use_settings(surveys={"enabled": True, "nps": True, "comment": True})
    cid = system.store.get_event("email", system.ingest("outlook"))["decision"]["conversation_id"]
    close_and_survey(system, 3 * 24 * 60)
    html = system.sent_mail()[-1].get_body(preferencelist=("html",)).get_content()
    link = urlsplit(html.split('href="')[1].split('"')[0])
    path = link.path.removeprefix("/api")
    page = system.client.http.get(f"{path}?{link.query}")
    assert b'name="nps" value="10"' in page.body and b"<textarea" in page.body
    done = system.client.http.post(path, headers={"Content-Type": "application/x-www-form-urlencoded"},
                                   body=urlencode({"score": 2, "nps": 4, "comment": "Slow refund"}).encode())
    assert done.status_code == 200
    conversation = system.store.conversation(cid)
    assert (conversation["csat"], conversation["nps"], conversation["comment"]) == (2, 4, "Slow refund")


@pytest.mark.parametrize("text", ["123456", "²", "¹²", "9" * 5000])   # "²".isdigit(), int("²") raises
def test_a_number_outside_the_scale_on_x_is_an_ordinary_message(system, text):
    failures = system.worker_failures()
    system.post_x(load_fixture("x", "aaa_dm"))
    system.pump.drain()
    close_and_survey(system, 30)
    order = load_fixture("x", "aaa_dm")
    order["direct_message_events"][0]["id"] = "954491830116155700"
    order["direct_message_events"][0]["message_create"]["message_data"]["text"] = text
    assert system.post_x(order).status_code == 200
    system.pump.drain()
    assert failures == []
    event = system.store.get_event("x", "dm-954491830116155700")
    assert event["status"] == "done"
    assert event["decision"]["new_conversation"] is True        # stored as a message of a new conversation
    assert system.store.contact("x", "3001969357")["awaiting_survey"]   # the survey still waits


def test_a_comment_question_left_unanswered_for_a_day_no_longer_swallows_messages(system):
    system.use_settings(surveys={"enabled": True, "comment": True})
    first = load_fixture("telegram", "text_private")
    system.deliver(first)
    cid = system.store.chat("telegram", "1111111")["conversation_id"]
    close_and_survey(system, 30)
    telegram_press(system, cid, 3)
    system.clock.current = at(system, 3 * 24 * 60)
    system.deliver(update_from(first, first["update_id"] + 7, at=system.clock.now(), message_id=1700,
                               text="Нове питання про оплату"))
    assert "comment" not in system.store.conversation(cid)
    assert system.store.chat("telegram", "1111111")["conversation_id"] != cid


def test_parse_score_takes_only_plain_numbers_in_the_scale():
    from functions.surveys import parse_score

    assert [parse_score(v) for v in ("4", " 5 ", "۵", "٣")] == [4, 5, 5, 3]   # Persian, Arabic digits
    assert parse_score("10", "nps") == 10 and parse_score("0", "nps") == 0
    for odd in ("²", "¹²", "4²", "⑤", "0", "6", "-1", "+3", "3.0", "", " ", "9" * 5000, None, 4, "Ⅳ",
                "4\x00", "١٢٣٤٥٦"):
        assert parse_score(odd) is None, odd
    assert parse_score("4", "no-such-kind") is None


def test_odd_button_values_are_refused_not_crash_looped(system):
    failures = system.worker_failures()
    system.slack_api.add_user("U2147483697", "Ana Lima", first_name="Ana", locale="en-US")
    system.post_slack(load_fixture("slack", "message_im"))
    system.pump.drain()
    cid = system.store.chat("slack", "D024BE91L")["conversation_id"]
    close_and_survey(system, 30)
    for n, value in enumerate((f"csat:{cid}:²", f"csat:{cid}:{'9' * 5000}", f"nps:{cid}:¹⁰", "csat::",
                               f"csat:{cid}:4:extra")):
        click = load_fixture("slack", "block_actions")
        click["actions"][0]["value"] = value
        click["actions"][0]["action_ts"] = f"1763806400.00{n}"
        body = urlencode({"payload": json.dumps(click)}).encode()
        assert system.post_slack(None, path="/webhooks/slack/interactions", raw=body).status_code == 200
    system.pump.drain()
    assert failures == []
    assert "csat" not in system.store.conversation(cid) and "nps" not in system.store.conversation(cid)
    telegram_press(system, cid, "²")        # the same on Telegram: an answer refused, no crash
    assert failures == []


def test_survey_page_refuses_odd_scores_with_400(system):
    system.ingest("outlook")
    cid = system.store.get_event("email", system.ingest("outlook"))["decision"]["conversation_id"]
    from datetime import datetime, timezone

    from functions import tokens

    token = tokens.make("survey", cid, datetime.now(timezone.utc), timedelta(days=14))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for query in ("score=%C2%B2", "score=" + "9" * 5000, "score=%FF", "score=4&nps=%C2%B9%C2%B2"):
        assert system.client.http.get(f"/surveys/{token}?{query}").status_code == 200
        answer = system.client.http.post(f"/surveys/{token}", headers=form, body=query.encode())
        assert answer.status_code in (200, 400), (query, answer.status_code)
    assert system.store.conversation(cid).get("csat") in (None, 4)
    assert "nps" not in system.store.conversation(cid)
