"""Messages that carry files: an HTML email shows a chart in place by Content-ID and carries it
as a file, received by a real SMTP server and read with the `email` package; a plain-text email
and the terminal carry or mention the file; a message without files is as before."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from monitor import notify
from monitor.digest.chart import CHART_FILE, Volumes, chart_alt_text, volume_chart

WEEK = Volumes({"Facebook": (214, 180.5), "X": (20, 22.0)}, {"praise": (30, 25.0)})
MESSAGE_ID = "<digest-oakfield-2026-W47-abc123@hallmonitor>"


def chart_attachment() -> notify.Attachment:
    return notify.Attachment(CHART_FILE, "image/png", volume_chart(WEEK), content_id=CHART_FILE)


def digest_body(chart: notify.Attachment) -> notify.Body:
    text = ("A quiet week: 234 comments, none needed action.\n\n"
            "Volume: Facebook 214 (average 180.5), X 20 (average 22).")
    html = ("<html><body><p>A quiet week: 234 comments, none needed action.</p>"
            f'<img src="{chart.cid}" width="600" alt="{chart_alt_text(WEEK)}">'
            "</body></html>")
    return notify.Body(text, None, html)


def test_an_html_email_shows_the_chart_in_place_by_content_id_and_carries_it(smtp_inbox):
    chart = chart_attachment()
    body = digest_body(chart)
    result = notify.send_apprise(smtp_inbox.url("head@school.example"), "Weekly digest", body,
                                 message_id=MESSAGE_ID, attachments=[chart])
    assert result.ok, result.error
    [message] = smtp_inbox.messages
    assert message["Message-ID"] == MESSAGE_ID
    assert message.get_content_type() == "multipart/related"

    alternative, *files = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    plain = alternative.get_body(preferencelist=("plain",)).get_content()
    html = alternative.get_body(preferencelist=("html",)).get_content()
    assert plain.splitlines() == str(body).splitlines()  # the text part, line for line
    assert '<img src="cid:volume-chart.png" width="600"' in html
    assert "Facebook 214 (average 180.5)" in html  # the alt text

    [image] = files
    assert image.get_content_type() == "image/png"
    assert image["Content-ID"] == "<volume-chart.png>"
    assert image.get_content_disposition() == "inline"
    assert image.get_filename() == "volume-chart.png"
    data = image.get_content()
    assert data == chart.data
    assert Image.open(io.BytesIO(data)).size == (1200, Image.open(io.BytesIO(chart.data)).size[1])
    # The message's HTML asks for no other picture than the one it carries.
    assert html.count("cid:") == 1


def test_a_file_without_a_content_id_is_a_plain_attachment_beside_the_email(smtp_inbox):
    report = notify.Attachment("volumes.csv", "text/csv", b"platform,this week\r\nFacebook,214\r\n")
    body = notify.Body("Volumes attached.", None, "<p>Volumes attached.</p>")
    assert notify.send_apprise(smtp_inbox.url(), "Weekly volumes", body,
                               attachments=[report]).ok
    [message] = smtp_inbox.messages
    assert message.get_content_type() == "multipart/mixed"
    [attached] = list(message.iter_attachments())
    assert attached.get_filename() == "volumes.csv"
    assert attached.get_content_disposition() == "attachment"
    assert attached["Content-ID"] is None
    assert attached.get_content().replace("\r\n", "\n") == "platform,this week\nFacebook,214\n"


def test_a_plain_text_email_carries_the_chart_as_a_file(smtp_inbox):
    chart = chart_attachment()
    assert notify.send_apprise(smtp_inbox.url(), "Weekly digest", "Volumes: see the chart.",
                               attachments=[chart]).ok
    [message] = smtp_inbox.messages
    assert message.get_content_type() == "multipart/mixed"
    assert message.get_body(preferencelist=("plain",)).get_content().strip() == \
        "Volumes: see the chart."
    [attached] = list(message.iter_attachments())
    assert attached.get_content_type() == "image/png"
    assert attached.get_content() == chart.data


def test_the_terminal_says_which_files_came_with_the_message(capsys):
    chart = chart_attachment()
    assert notify.send_apprise("console://", "Weekly digest", digest_body(chart),
                               attachments=[chart]).ok
    out = capsys.readouterr().out
    assert "A quiet week: 234 comments" in out
    assert "[Attached: volume-chart.png (image/png), sent with the email]" in out


def test_a_message_without_files_is_sent_as_before(smtp_inbox):
    body = notify.Body("Line one.\n\nLine two.", None, "<p>Line one.</p><p>Line two.</p>")
    assert notify.send_apprise(smtp_inbox.url(), "An alert", body, message_id=MESSAGE_ID).ok
    [message] = smtp_inbox.messages
    assert message.get_content_type() == "multipart/alternative"
    assert smtp_inbox.text(message).splitlines() == ["Line one.", "", "Line two."]


@pytest.mark.parametrize("name, content_id, problem", [
    ("volume chart.png", None, "letters, digits"),
    ("../chart.png", None, "letters, digits"),
    ("volume-chart.png", "chart", "Content-ID must be its name"),
])
def test_an_attachment_name_that_cannot_be_a_content_id_is_refused_plainly(name, content_id,
                                                                          problem):
    with pytest.raises(ValueError, match=problem) as raised:
        notify.Attachment(name, "image/png", b"", content_id=content_id)
    assert "\n" not in str(raised.value)


def test_a_webhook_gets_the_chart_as_apprise_sends_files_and_the_text_as_its_message(webhook):
    chart = chart_attachment()
    body = digest_body(chart)
    assert notify.send_apprise(webhook.url(), "Weekly digest", body, attachments=[chart]).ok
    [payload] = webhook.received
    assert payload["message"] == str(body)  # a program gets the plain text, not the HTML
    [attached] = payload["attachments"]
    assert attached["filename"] == "volume-chart.png"
    assert attached["mimetype"] == "image/png"
    assert base64.b64decode(attached["base64"]) == chart.data
