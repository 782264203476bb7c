"""firstreply: the Chalice app. Routes and event handlers only; the work is in `functions/`."""
import os

from chalice import Chalice, CognitoUserPoolAuthorizer, Rate

from functions.handlers import logs
from integrations.sqs import QUEUE_NAME

MAIL_TOPIC = os.environ.get("FIRSTREPLY_MAIL_TOPIC", "firstreply-inbound-mail")
# Admin routes: a bearer token by default; one setting puts them behind a Cognito user pool instead.
ADMIN_COGNITO_ARN = os.environ.get("FIRSTREPLY_ADMIN_COGNITO_ARN", "")
ADMIN_AUTHORIZER = (CognitoUserPoolAuthorizer("firstreply-admins", provider_arns=[ADMIN_COGNITO_ARN])
                    if ADMIN_COGNITO_ARN else None)

app = Chalice(app_name="firstreply")
logs.configure(app)


@app.route("/webhooks/telegram", methods=["POST"])
def telegram_webhook():
    from functions.handlers import telegram_webhook as handler

    return handler.handle(app.current_request)


@app.route("/webhooks/slack/events", methods=["POST"])
def slack_events():
    from functions.handlers import slack_webhook as handler

    return handler.handle_event(app.current_request)


# Slack posts interactivity form-encoded; Chalice answers 415 to that unless the route lists it.
@app.route("/webhooks/slack/interactions", methods=["POST"],
           content_types=["application/x-www-form-urlencoded"])
def slack_interactions():
    from functions.handlers import slack_webhook as handler

    return handler.handle_interaction(app.current_request)


@app.route("/webhooks/x", methods=["GET"])
def x_crc():
    from functions.handlers import x_webhook as handler

    return handler.handle_crc(app.current_request)


@app.route("/webhooks/x", methods=["POST"])
def x_events():
    from functions.handlers import x_webhook as handler

    return handler.handle_event(app.current_request)


# Meta: WhatsApp on its own route, Messenger and Instagram on one (the payload's `object` tells them
# apart); GET is the verification handshake Meta makes when the callback URL is saved.
@app.route("/webhooks/whatsapp", methods=["GET"])
def whatsapp_verify():
    from functions.handlers import meta_webhook as handler

    return handler.verify(app.current_request)


@app.route("/webhooks/whatsapp", methods=["POST"])
def whatsapp_events():
    from functions.handlers import meta_webhook as handler

    return handler.handle(app.current_request, "whatsapp")


@app.route("/webhooks/meta", methods=["GET"])
def meta_verify():
    from functions.handlers import meta_webhook as handler

    return handler.verify(app.current_request)


@app.route("/webhooks/meta", methods=["POST"])
def meta_events():
    from functions.handlers import meta_webhook as handler

    return handler.handle(app.current_request, "meta")


@app.on_sns_message(topic=MAIL_TOPIC, name="email_inbound")
def email_inbound(event):
    from functions.handlers import email_inbound as handler

    record = event.to_dict()["Records"][0]["Sns"]
    handler.handle(record["Message"], record.get("TopicArn", ""))


# X allows the mentions timeline 10 reads per 15 minutes per user on the Basic tier: every 2 minutes
# stays within it (Free: 1 per 15 minutes; set 15). A setting of the stage (.chalice/config.json).
X_MENTIONS_MINUTES = int(os.environ.get("FIRSTREPLY_X_MENTIONS_MINUTES", "2"))


@app.schedule(Rate(X_MENTIONS_MINUTES, unit=Rate.MINUTES), name="x-mentions")
def x_mentions(event):
    from functions.handlers import x_mentions as job

    return {"queued": job.run()}


@app.schedule(Rate(5, unit=Rate.MINUTES), name="close-idle")
def close_idle(event):
    from functions.handlers import jobs

    return jobs.close_idle(event.to_dict())


@app.schedule(Rate(5, unit=Rate.MINUTES), name="transcripts")
def transcripts(event):
    from functions.handlers import jobs

    return jobs.transcripts(event.to_dict())


@app.schedule(Rate(5, unit=Rate.MINUTES), name="surveys")
def surveys(event):
    from functions.handlers import jobs

    return jobs.surveys(event.to_dict())


@app.route("/surveys/{token}", methods=["GET", "POST"],
           content_types=["application/x-www-form-urlencoded", "application/json", "text/plain"])
def survey_page(token):
    from functions.handlers import survey_page as handler

    return handler.handle(app.current_request, token)


# RFC 8058 one-click POSTs may come as multipart/form-data (the RFC allows either form encoding)
@app.route("/unsubscribe/{token}", methods=["GET", "POST"],
           content_types=["application/x-www-form-urlencoded", "multipart/form-data", "application/json",
                          "text/plain"])
def unsubscribe(token):
    from functions.handlers import unsubscribe as handler

    return handler.handle(app.current_request, token)


# Up to 10 messages an invocation, failures reported per message (the event source's
# FunctionResponseTypes is in infra/resources.yaml: Chalice does not write it). The most worker
# instances SQS runs at once (ScalingConfig, 2-1000): a burst then waits in the queue instead of
# taking the account's whole Lambda concurrency from the webhooks.
WORKER_MAX_CONCURRENCY = int(os.environ.get("FIRSTREPLY_WORKER_MAX_CONCURRENCY", "100"))


@app.on_sqs_message(queue=QUEUE_NAME, batch_size=10, name="worker", maximum_concurrency=WORKER_MAX_CONCURRENCY)
def worker(event):
    from functions.handlers import worker as handler

    return handler.handle(event)


@app.route("/admin", methods=["GET"])
def admin_page():
    from functions.handlers import admin

    return admin.page(app.current_request)


def _admin(action: str, template_id: str | None = None):
    from functions.handlers import admin

    return admin.handle(app.current_request, action, template_id)


@app.route("/admin/api/templates", methods=["GET"], authorizer=ADMIN_AUTHORIZER)
def admin_templates():
    return _admin("list_templates")


@app.route("/admin/api/templates/{template_id}", methods=["GET"], authorizer=ADMIN_AUTHORIZER)
def admin_template(template_id):
    return _admin("get_template", template_id)


@app.route("/admin/api/templates/{template_id}", methods=["PUT"], authorizer=ADMIN_AUTHORIZER)
def admin_template_save(template_id):
    return _admin("put_template", template_id)


@app.route("/admin/api/templates/{template_id}/preview", methods=["POST"], authorizer=ADMIN_AUTHORIZER)
def admin_template_preview(template_id):
    return _admin("preview_template", template_id)


@app.route("/admin/api/templates/{template_id}/versions", methods=["GET"], authorizer=ADMIN_AUTHORIZER)
def admin_template_versions(template_id):
    return _admin("list_versions", template_id)


@app.route("/admin/api/templates/{template_id}/rollback", methods=["POST"], authorizer=ADMIN_AUTHORIZER)
def admin_template_rollback(template_id):
    return _admin("rollback_template", template_id)


@app.route("/admin/api/settings", methods=["GET"], authorizer=ADMIN_AUTHORIZER)
def admin_settings():
    return _admin("get_settings")


@app.route("/admin/api/settings", methods=["PUT"], authorizer=ADMIN_AUTHORIZER)
def admin_settings_save():
    return _admin("put_settings")


@app.route("/admin/api/stats", methods=["GET"], authorizer=ADMIN_AUTHORIZER)
def admin_stats():
    return _admin("get_stats")


# Customers' data (functions/handlers/customers.py): export, erasure, the audit trail
@app.route("/admin/api/contacts/{contact}/export", methods=["GET"], authorizer=ADMIN_AUTHORIZER)
def admin_contact_export(contact):
    from functions.handlers import customers

    return customers.api_export(app.current_request, contact)


@app.route("/admin/api/contacts/{contact}", methods=["DELETE"], authorizer=ADMIN_AUTHORIZER)
def admin_contact_forget(contact):
    from functions.handlers import customers

    return customers.api_forget(app.current_request, contact)


@app.route("/admin/api/audit", methods=["GET"], authorizer=ADMIN_AUTHORIZER)
def admin_audit():
    from functions.handlers import customers

    return customers.api_audit(app.current_request)


# -- the inbox (agents: personal token, admin token or Cognito) -----------------------------------
def _inbox(action: str, conversation_id: str | None = None, verb: str | None = None):
    from functions.handlers import inbox

    return inbox.handle(app.current_request, action, conversation_id, verb)


@app.route("/admin/api/me", methods=["GET"], authorizer=ADMIN_AUTHORIZER)
def inbox_me():
    return _inbox("me")


@app.route("/admin/api/agents", methods=["GET"], authorizer=ADMIN_AUTHORIZER)
def inbox_agents():
    return _inbox("agents")


@app.route("/admin/api/conversations", methods=["GET"], authorizer=ADMIN_AUTHORIZER)
def inbox_conversations():
    return _inbox("list")


@app.route("/admin/api/conversations/{conversation_id}", methods=["GET"], authorizer=ADMIN_AUTHORIZER)
def inbox_conversation(conversation_id):
    return _inbox("get", conversation_id)


@app.route("/admin/api/conversations/{conversation_id}/{verb}", methods=["POST"], authorizer=ADMIN_AUTHORIZER)
def inbox_action(conversation_id, verb):
    return _inbox("act", conversation_id, verb)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="sla")
def sla_job(event):
    from functions.handlers import jobs

    return jobs.sla(event.to_dict())


@app.schedule(Rate(1, unit=Rate.HOURS), name="expected-reply")
def expected_reply_job(event):
    from functions.handlers import jobs

    return jobs.expected_reply(event.to_dict())
