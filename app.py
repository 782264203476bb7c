"""firstreply: the Chalice app. Routes and event handlers only; the work is in `functions/`."""
from chalice import Chalice

from functions.handlers import logs
from integrations.sqs import QUEUE_NAME

app = Chalice(app_name="firstreply")
logs.configure(app)


@app.route("/webhooks/telegram", methods=["POST"])
def telegram_webhook():
    from functions.handlers import telegram_webhook as handler

    return handler.handle(app.current_request)


@app.on_sqs_message(queue=QUEUE_NAME, batch_size=1, name="worker")
def worker(event):
    from functions.handlers import worker as handler

    handler.handle(event)
