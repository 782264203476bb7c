"""Is this mail written by a machine? Named rules, so a stored decision says which sign it saw.

The union of what the trusted help desks look at (Zammad's AutoResponseCheck, OutOfOfficeCheck,
bounce and external-system filters; FreeScout's `isAutoResponder`, `detectBounceByHeaders` and its
From/Return-Path bounce checks) and of RFC 3834 (Auto-Submitted), RFC 2369/2919 (List-*), RFC 3464
and 6522 (delivery and other reports), each sign with the spellings seen in real mail. Answering any
of these would at best mail a robot and at worst start two auto-responders mailing each other.

Pure: `Facts` in, rule names out. `reason` is the first rule that matches (the order puts what SES
says about authenticity first, then the explicit RFC headers, then the guesses from addresses).
Mail with no machine-readable sign at all is left to SES's spam verdict and the per-contact gap.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Mapping


@dataclass(frozen=True)
class Facts:
    """What the rules may look at; header names lower-case, values decoded and unfolded."""

    headers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    content_types: tuple[str, ...] = ()   # the top-level type first, then every part's
    address: str = ""                     # From, lower-case ("" when unreadable)
    display_name: str = ""
    envelope_sender: str | None = None    # SES `mail.source` (the SMTP MAIL FROM); "" for a bounce
    own_address: str = ""
    subject: str = ""
    verdicts: Mapping[str, str] = field(default_factory=dict)   # SES: spam, virus, spf, dkim, dmarc

    def values(self, name: str) -> tuple[str, ...]:
        return self.headers.get(name, ())

    def first(self, name: str) -> str:
        return next(iter(self.values(name)), "").strip()

    def has(self, name: str) -> bool:
        return name in self.headers


def _local(address: str) -> str:
    return address.rpartition("@")[0] if "@" in address else address


def _senders(f: Facts) -> list[str]:
    """Every address the mail names as its origin: From, Sender, Return-Path and the envelope."""
    found = [f.address, f.envelope_sender or ""]
    for name in ("sender", "return-path"):
        found += [m.lower() for m in re.findall(r"[^\s<>\"',;:]+@[^\s<>\"',;:]+", " ".join(f.values(name)))]
    return [a for a in dict.fromkeys(found) if a]


def _precedence(value: str) -> Callable[[Facts], bool]:
    # FreeScout reads X-Precedence as Precedence; "auto-reply" is a spelling seen next to "auto_reply"
    spellings = {value, value.replace("_", "-")}
    return lambda f: any(v.strip().lower() in spellings
                         for name in ("precedence", "x-precedence") for v in f.values(name))


_NOREPLY = re.compile(r"(^|[._+-])(no|do[._-]?not|dont|never)[._-]?reply($|[._+-])|^noreply|^no[._-]?reply")
_SYSTEM_ACCOUNTS = {"root", "daemon", "cron", "crond", "anacron", "nobody", "www-data", "apache", "nginx",
                    "httpd", "logwatch", "backup", "system", "bounce", "bounces", "notification", "notifications"}
_DAEMON_NAMES = re.compile(r"^(mail delivery (subsystem|system|service)|mail ?delivery|mailer[- ]daemon|"
                           r"postmaster|mail administrator|delivery status notification|"
                           r"microsoft outlook|microsoft exchange|e-?mail delivery system)$", re.IGNORECASE)
_MONITORING_SUBJECT = re.compile(
    r"^(\*\* (PROBLEM|RECOVERY|ACKNOWLEDGEMENT|FLAPPING\w*|DOWNTIME\w*) (Service|Host) Alert"   # Nagios
    r"|\[(PROBLEM|RECOVERY|ACKNOWLEDGEMENT|FLAPPINGSTART|FLAPPINGEND|DOWNTIMESTART|DOWNTIMEEND|CUSTOM)\] "
    r"(Host |.+ on )"                                                                          # Icinga 2
    r"|monit alert -- |Check_MK: |\[?Zabbix\]?[: ])")                                          # Monit, Checkmk
_CHALLENGE_SUBJECT = re.compile(
    r"(please (confirm|verify) (that )?(your|you are)|confirm your (e-?mail|message)|"
    r"verify your (e-?mail|message)|(sender|message) verification (required|request)|"
    r"requires? (your )?(verification|confirmation) before|awaiting your (confirmation|verification))",
    re.IGNORECASE)
_CHALLENGE_DOMAINS = ("spamarrest.com", "boxbe.com", "mailinblack.com", "sanebox.com", "choicemail.com")
_REPORT_PARTS = {"message/delivery-status", "message/global-delivery-status", "message/disposition-notification",
                 "message/feedback-report", "text/rfc822-headers"}


# (name, sign): the name is what the stored decision says ("suppressed: <name>").
RULES: tuple[tuple[str, Callable[[Facts], bool]], ...] = (
    # What SES found (the notification's receipt verdicts): forged or dangerous mail is not answered,
    # so a forged From cannot make us mail a third party.
    ("ses-virus", lambda f: f.verdicts.get("virus") == "FAIL"),
    ("dmarc-fail", lambda f: f.verdicts.get("dmarc") == "FAIL"),
    ("ses-spam", lambda f: f.verdicts.get("spam") == "FAIL"),
    ("no-sender", lambda f: not f.address),
    ("own-address", lambda f: bool(f.own_address) and f.address == f.own_address.lower()),
    # RFC 3834 §5: anything but "no" (auto-generated, auto-replied, auto-notified, Zimbra's vacation)
    ("auto-submitted", lambda f: any(v.split(";")[0].strip().lower() not in ("no", "")
                                     for v in f.values("auto-submitted"))),
    # Microsoft: what the sender asks not to be answered automatically; "None" asks nothing
    ("x-auto-response-suppress", lambda f: any(v.strip().lower() not in ("none", "")
                                               for v in f.values("x-auto-response-suppress"))),
    ("precedence-bulk", _precedence("bulk")),
    ("precedence-list", _precedence("list")),
    ("precedence-junk", _precedence("junk")),
    ("precedence-auto-reply", _precedence("auto_reply")),
    ("x-loop", lambda f: f.has("x-loop")),   # any value: a system that marks mail it sent itself
    ("x-autoreply", lambda f: any(f.has(h) for h in ("x-autoreply", "x-autorespond", "x-autoresponder",
                                                     "x-auto-reply", "x-autogenerated"))),
    ("apple-vacation", lambda f: any("vacation" in v.lower() for v in f.values("x-apple-action"))),
    ("delivered-to-autoresponder", lambda f: any("autoresponder" in v.lower() for v in f.values("delivered-to"))),
    ("list-id", lambda f: f.has("list-id")),                       # RFC 2919
    ("list-unsubscribe", lambda f: f.has("list-unsubscribe")),     # RFC 2369, RFC 8058, every bulk sender
    ("list-headers", lambda f: any(h.startswith("list-") for h in f.headers)),
    ("feedback-id", lambda f: f.has("feedback-id")),               # Gmail's header for bulk senders
    # RFC 3464/6522/8098: bounces, read receipts, abuse reports, whatever the part nesting
    ("delivery-report", lambda f: bool(f.content_types) and f.content_types[0] == "multipart/report"
                                  or bool(_REPORT_PARTS & set(f.content_types))),
    # Known systems' own markers (Zammad's external-system and monitoring filters and their peers)
    ("system-jira", lambda f: f.has("x-jira-fingerprint")),
    ("system-github", lambda f: f.has("x-github-reason") or f.has("x-github-sender")),
    ("system-gitlab", lambda f: f.has("x-gitlab-project") or f.has("x-gitlab-pipeline-id")),
    ("system-jenkins", lambda f: f.has("x-jenkins-job") or f.has("x-jenkins-result")),
    ("system-servicenow", lambda f: f.has("x-servicenow-generated")),
    ("system-cron", lambda f: f.has("x-cron-env")),
    ("system-monitoring", lambda f: bool(_MONITORING_SUBJECT.match(f.subject))),
    # The envelope and the origin addresses (FreeScout's bounce checks, RFC 3834 §2)
    ("empty-return-path", lambda f: f.envelope_sender == "" or any(
        v.strip().strip("<>").strip() == "" for v in f.values("return-path"))),
    ("mailer-daemon", lambda f: any(_local(a) in ("mailer-daemon", "mailer_daemon", "mailerdaemon")
                                    for a in _senders(f))),
    ("postmaster", lambda f: any(_local(a) in ("postmaster", "post_master", "post-master") for a in _senders(f))),
    ("noreply", lambda f: bool(_NOREPLY.search(_local(f.address).replace("_", "-")))),
    # Mailman, Majordomo, ezmlm: the list's administrative addresses
    ("list-address", lambda f: any(_local(a).endswith(("-request", "-owner", "-bounces")) or _local(a).startswith("owner-")
                                   for a in _senders(f))),
    ("system-account", lambda f: _local(f.address) in _SYSTEM_ACCOUNTS),
    ("daemon-display-name", lambda f: bool(_DAEMON_NAMES.match(" ".join(f.display_name.split())))),
    ("challenge-response", lambda f: "tmda" in f.first("x-delivery-agent").lower()
                                     or f.address.endswith(_CHALLENGE_DOMAINS)
                                     or bool(_CHALLENGE_SUBJECT.search(f.subject))),
)
RULE_NAMES = tuple(name for name, _ in RULES)


def matching(facts: Facts) -> list[str]:
    """Every rule the mail matches (tests and logs); a rule that fails on odd input matches nothing."""
    found = []
    for name, sign in RULES:
        try:
            if sign(facts):
                found.append(name)
        except Exception:   # a sign is a guess: odd input must never cost the mail
            continue
    return found


def reason(facts: Facts) -> str:
    """The first rule the mail matches, or "" for mail a person wrote."""
    return next(iter(matching(facts)), "")
