"""An incident's evidence folder: what it holds, that it checks out offline, and that each way of
altering it (a byte of the report, a record's text, a payload, a deleted or swapped record, a
manifest edited to match) is found and named."""

import hashlib
import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.graph import DEFAULT_API_VERSION
from monitor import incidents, models
from monitor.cli import main
from monitor.config import load
from monitor.daemon import Daemon, open_database
from monitor.evidence import chain
from monitor.evidence.export import ExportError, export_incident, verify_folder
from tests.builders import PAGE_ID, write_config, write_graph_config, write_replay
from tests.http_server import json_answer

pytestmark = pytest.mark.usefixtures("database")

THREAT = "I'll be waiting at the gates for that teacher, he'd better watch his back <b>&amp;</b>"
LATER = datetime.now(UTC) + timedelta(hours=2)


@pytest.fixture
def school(tmp_path):
    """A threat and an insult polled through the pipeline (which records the threat in the
    chain when it alerts), then acknowledged, noted and resolved."""
    write_replay(tmp_path / "fb", [THREAT, "you are a useless idiot"])
    config = load(write_config(tmp_path, {"dsl": ["console://"], "head": ["console://"]}))
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    incidents.acknowledge(sessions, 1, "dsl@oakfield.sch.uk")
    incidents.add_note(sessions, 1, "dsl@oakfield.sch.uk", "Rang the police, ref 4471/26")
    incidents.resolve(sessions, 1, "head@oakfield.sch.uk", "reported_to_police")
    return config, sessions


@pytest.fixture
def folder(school, tmp_path):
    config, sessions = school
    out = tmp_path / "handover" / "incident-1"
    out.parent.mkdir()
    export_incident(config, sessions, 1, out, "head@oakfield.sch.uk", now=LATER)
    return out


def read(folder: Path, name: str):
    return json.loads((folder / name).read_text(encoding="utf-8"))


def write(folder: Path, name: str, value) -> None:
    (folder / name).write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n",
                               encoding="utf-8")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def item_record(folder: Path) -> str:
    manifest = read(folder, "manifest.json")
    return next(e["file"] for e in manifest["entries"] if e["kind"] == "item")


def test_the_folder_holds_the_report_every_record_the_payloads_and_checks_out(school, tmp_path):
    config, sessions = school
    out = tmp_path / "incident-1"
    result = export_incident(config, sessions, 1, out, "head@oakfield.sch.uk", now=LATER)

    with sessions() as session:
        chain_rows = list(session.scalars(select(models.EvidenceRecord).where(
            models.EvidenceRecord.incident_id == 1).order_by(models.EvidenceRecord.seq)))
        threat = session.scalars(select(models.Item).where(models.Item.text == THREAT)).one()
        head = chain.verify_school(session, "oakfield").head
    kinds = [row.kind for row in chain_rows]
    assert kinds[0] == "item" and kinds.count("step") == 4  # ack, note, resolve, the hold
    manifest = read(out, "manifest.json")
    assert [e["seq"] for e in manifest["entries"]] == [row.seq for row in chain_rows]
    assert manifest["chain_head"]["entry_hash"] == head
    assert (manifest["incident_id"], manifest["exported_by"], manifest["school"]["id"]) == (
        1, "head@oakfield.sch.uk", "oakfield")
    for row in chain_rows:
        record = read(out, f"records/{row.seq:04d}.json")
        assert (record["content"], record["entry_hash"], record["prev_hash"]) == (
            row.content, row.entry_hash, row.prev_hash)
    # The raw payload exactly as it was fetched, under the platform's own id.
    payload = read(out, f"payloads/facebook-{threat.external_id}.json")
    assert payload == threat.raw and payload["message"] == THREAT
    assert (result.records, result.payloads, result.held) == (len(chain_rows), 1, True)
    assert result.files == len([p for p in out.rglob("*") if p.is_file()])
    assert any(str(out) in line for line in result.lines())

    report = verify_folder(out)
    assert report.ok, report.problems
    assert report.checked == result.files and report.lines()[0].startswith("OK")
    if shutil.which("sha256sum"):  # what a reader without Hall Monitor would run
        subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=out, check=True)


def test_exporting_puts_the_incident_under_hold_and_says_so_in_its_evidence(folder, school):
    _, sessions = school
    with sessions() as session:
        incident = session.get(models.Incident, 1)
        assert (incident.held_by, incident.hold_reason) == (
            "head@oakfield.sch.uk", "evidence exported to incident-1")
    steps = [read(folder, e["file"])["content"] for e in read(folder, "manifest.json")["entries"]
             if e["kind"] == "step"]
    assert steps[-1]["action"] == "hold" and "incident-1" in steps[-1]["result"]


def test_the_report_shows_what_who_when_where_why_and_what_was_done(folder):
    html = (folder / "report.html").read_text(encoding="utf-8")
    # The words exactly as written, escaped: the comment's markup never becomes the report's.
    assert "gates for that teacher, he&#x27;d better watch his back &lt;b&gt;&amp;amp;" in html
    assert "<b>&amp;</b>" not in html
    assert "Oakfield Primary School" in html and "Incident 1: Threat" in html
    assert "reported to the police" in html and "Rang the police, ref 4471/26" in html
    assert "dsl@oakfield.sch.uk" in html and "head@oakfield.sch.uk" in html
    assert 'href="https://www.facebook.com/104857392011/posts/1_1"' in html
    assert "UTC" in html and "Europe/London" in html and "model " in html
    assert read(folder, "manifest.json")["chain_head"]["entry_hash"] in html
    assert "hallmonitor evidence verify" in html and "sha256sum -c SHA256SUMS" in html
    # Self-contained: nothing fetched, nothing run.
    assert "<script" not in html and "src=" not in html and "@import" not in html
    assert "@page { size: A4; margin: 18mm; }" in html


# --- altering the folder ------------------------------------------------------------------------

def flip_a_byte_of_the_report(folder: Path) -> list[str]:
    data = bytearray((folder / "report.html").read_bytes())
    at = data.index(b"Oakfield")
    data[at] = ord("0")
    (folder / "report.html").write_bytes(bytes(data))
    return ["report.html: changed"]


def edit_a_records_text(folder: Path) -> list[str]:
    name = item_record(folder)
    record = read(folder, name)
    record["content"]["item"]["text"] = "I'll be at the gates"
    write(folder, name, record)
    return [f"{name}: changed", f"entry {record['seq']}", "edited"]


def alter_a_payload(folder: Path) -> list[str]:
    [name] = [e["file"] for e in read(folder, "manifest.json")["payloads"]]
    payload = read(folder, name)
    payload["message"] = "lovely nativity"
    write(folder, name, payload)
    return [f"{name}: changed", f"{name}: does not match the raw payload"]


def delete_a_record(folder: Path) -> list[str]:
    name = item_record(folder)
    (folder / name).unlink()
    return [f"{name}: missing"]


def swap_two_records(folder: Path) -> list[str]:
    first, second = [e["file"] for e in read(folder, "manifest.json")["entries"]][1:3]
    a, b = (folder / first).read_bytes(), (folder / second).read_bytes()
    (folder / first).write_bytes(b)
    (folder / second).write_bytes(a)
    return [f"{first}: changed", f"{second}: changed", "swapped", "out of order"]


def add_a_file(folder: Path) -> list[str]:
    (folder / "records" / "9999.json").write_text("{}", encoding="utf-8")
    return ["records/9999.json: an extra file"]


ALTERATIONS = [flip_a_byte_of_the_report, edit_a_records_text, alter_a_payload, delete_a_record,
               swap_two_records, add_a_file]


@pytest.mark.parametrize("alter", ALTERATIONS, ids=lambda f: f.__name__)
def test_each_alteration_of_the_folder_is_found_and_named(folder, alter):
    expected = alter(folder)
    report = verify_folder(folder)
    assert not report.ok
    said = "\n".join(report.lines())
    assert said.startswith("ALTERED")
    for words in expected:
        assert words in said, said


def test_a_record_edited_with_the_manifest_and_sums_to_match_fails_on_its_chain_hash(folder):
    """Whoever edits a record and recomputes every sum in the folder still cannot make the
    entry's chain hash, which covers its content's hash, agree."""
    name = item_record(folder)
    record = read(folder, name)
    record["content"]["item"]["text"] = "see you at the gates"
    record["content_sha256"] = chain.content_hash(record["content"])
    write(folder, name, record)
    manifest = read(folder, "manifest.json")
    for entry in manifest["entries"]:
        if entry["file"] == name:
            entry["content_sha256"] = record["content_sha256"]
    for listed in manifest["files"]:
        listed["sha256"] = sha256(folder / listed["path"])
        listed["size"] = (folder / listed["path"]).stat().st_size
    write(folder, "manifest.json", manifest)
    (folder / "SHA256SUMS").write_text("".join(
        f"{sha256(folder / p)}  {p}\n" for p in sorted(
            [f["path"] for f in manifest["files"]] + ["manifest.json"])), encoding="utf-8")

    report = verify_folder(folder)
    assert report.problems == [f"chain entry {record['seq']} ({name}): its chain hash does not "
                               "match"]


def test_a_folder_that_is_not_one_is_a_problem_not_a_crash(tmp_path):
    assert verify_folder(tmp_path / "nowhere").problems == [f"{tmp_path / 'nowhere'} is not a "
                                                            "folder"]
    report = verify_folder(tmp_path)
    assert not report.ok and "has no manifest.json" in report.problems[0]
    (tmp_path / "manifest.json").write_text("{not json", encoding="utf-8")
    assert "manifest.json cannot be read as JSON" in verify_folder(tmp_path).problems[0]


# --- refusals -----------------------------------------------------------------------------------

def test_a_folder_with_something_in_it_is_never_overwritten(school, tmp_path):
    config, sessions = school
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ExportError) as info:
        export_incident(config, sessions, 1, out, "head", now=LATER)
    assert "already exists and is not empty" in str(info.value)
    assert "\n" not in str(info.value)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    with sessions() as session:
        assert session.get(models.Incident, 1).held_at is None
    # An empty folder is fine.
    empty = tmp_path / "empty"
    empty.mkdir()
    export_incident(config, sessions, 1, empty, "head", now=LATER)
    assert verify_folder(empty).ok


def test_an_unknown_incident_is_refused_in_one_line(school, tmp_path):
    config, sessions = school
    with pytest.raises(ExportError) as info:
        export_incident(config, sessions, 99, tmp_path / "out", "head", now=LATER)
    assert str(info.value).startswith("no incident with id 99") and "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_incident_without_evidence_is_refused_saying_how_evidence_arises(school, tmp_path):
    config, sessions = school
    with sessions.begin() as session:
        session.add(models.Incident(id=50, school_id="oakfield", key="empty", severity="high",
                                    harm="hostility"))
    with pytest.raises(ExportError) as info:
        export_incident(config, sessions, 50, tmp_path / "out", "head", now=LATER)
    assert "has no evidence records" in str(info.value)
    assert "alerted as high or urgent" in str(info.value)
    with sessions() as session:
        assert session.get(models.Incident, 50).held_at is None  # nothing exported, not held
    assert not (tmp_path / "out").exists()


# --- held already, content removed --------------------------------------------------------------

def test_an_incident_already_held_keeps_its_first_hold(school, tmp_path):
    config, sessions = school
    incidents.hold(sessions, 1, "dsl@oakfield.sch.uk", "police asked us to keep it")
    result = export_incident(config, sessions, 1, tmp_path / "out", "head", now=LATER)
    assert result.held is False and "already under evidence hold" in result.lines()[1]
    with sessions() as session:
        incident = session.get(models.Incident, 1)
        assert (incident.held_by, incident.hold_reason) == ("dsl@oakfield.sch.uk",
                                                            "police asked us to keep it")
    assert verify_folder(tmp_path / "out").ok


def test_records_whose_content_was_removed_are_exported_as_such_and_still_check_out(
        school, tmp_path):
    config, sessions = school
    with sessions.begin() as session:
        item_seq = session.scalars(select(models.EvidenceRecord.seq).where(
            models.EvidenceRecord.kind == "item", models.EvidenceRecord.incident_id == 1)).first()
        chain.remove_content(session, "oakfield", [item_seq], "erasure", now=LATER)
    out = tmp_path / "out"
    result = export_incident(config, sessions, 1, out, "head", now=LATER)

    record = read(out, f"records/{item_seq:04d}.json")
    assert record["content"] is None and record["removed_at"] is not None
    assert len(record["content_sha256"]) == 64
    removal = [read(out, e["file"]) for e in read(out, "manifest.json")["entries"]
               if e["kind"] == "removal"]
    assert [r["content"]["removed"] for r in removal] == [[item_seq]]
    assert result.payloads == 0 and not (out / "payloads").exists()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "content was removed from the records (erasure)" in html
    assert THREAT[:20] not in html
    report = verify_folder(out)
    assert report.ok, report.problems


# --- end to end: the pipeline, actions and incident steps, then the commands --------------------

def test_the_commands_export_a_folder_from_the_pipelines_chain_and_check_it(tmp_path, capsys):
    write_replay(tmp_path / "fb", [THREAT, "Lovely nativity this morning, thank you Miss Patel!"])
    path = write_config(tmp_path, {"dsl": ["console://"], "head": ["console://"]})
    config = load(path)
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    for command in (["incidents", "ack", "1", "--by", "dsl@oakfield.sch.uk"],
                    ["incidents", "resolve", "1", "--outcome", "referred_to_lado", "--by",
                     "head@oakfield.sch.uk"],
                    ["evidence", "export", "--incident", "1", "--out", str(tmp_path / "lado"),
                     "--by", "head@oakfield.sch.uk"]):
        main([*command, "--config", str(path)])
    out = capsys.readouterr().out
    assert f"to {tmp_path / 'lado'}" in out and "now under evidence hold" in out

    manifest = read(tmp_path / "lado", "manifest.json")
    contents = [read(tmp_path / "lado", e["file"])["content"] for e in manifest["entries"]]
    assert contents[0]["reason"] == "alerted urgent" and contents[0]["item"]["text"] == THREAT
    assert [(c["action"], c["actor"]) for c in contents[1:]] == [
        ("acknowledge", "dsl@oakfield.sch.uk"), ("resolve", "head@oakfield.sch.uk"),
        ("hold", "head@oakfield.sch.uk")]
    with sessions() as session:  # the kind comment was never evidence
        assert "Lovely nativity" not in json.dumps([r.content for r in session.scalars(
            select(models.EvidenceRecord))])

    main(["evidence", "verify", str(tmp_path / "lado")])
    assert capsys.readouterr().out.startswith("OK:")
    flip_a_byte_of_the_report(tmp_path / "lado")
    with pytest.raises(SystemExit) as info:
        main(["evidence", "verify", str(tmp_path / "lado")])
    assert info.value.code == 1
    assert "report.html: changed" in capsys.readouterr().out

    with pytest.raises(SystemExit) as info:
        main(["evidence", "export", "--incident", "1", "--out", str(tmp_path / "lado"),
              "--config", str(path)])
    assert info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert "already exists and is not empty" in err and len(err.splitlines()) == 1


def test_a_hidden_comment_is_exported_as_it_was_before_it_was_hidden(local_server, tmp_path,
                                                                     monkeypatch, capsys):
    graph = local_server()
    version = f"/{DEFAULT_API_VERSION}"
    post = f"{PAGE_ID}_822001"
    recent = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S+0000")
    graph.route("GET", f"{version}/{PAGE_ID}/feed", json_answer({"data": [{
        "id": post, "created_time": recent, "updated_time": recent,
        "permalink_url": f"https://www.facebook.com/{PAGE_ID}/posts/822001"}]}))
    graph.route("GET", f"{version}/{post}/comments", json_answer({"data": [
        {"id": "822001_2", "message": THREAT, "created_time": recent,
         "from": {"id": "556", "name": "D Foley"}}]}))
    graph.route("POST", f"{version}/822001_2", json_answer({"success": True}))
    monkeypatch.setenv("FB_TOKEN", "EAAB-page-token")
    path = write_graph_config(tmp_path, graph.url, PAGE_ID, roles=("dsl",))
    config = load(path)
    _, sessions = open_database(config)
    Daemon(config, sessions).poll_once()
    with sessions() as session:
        item_id = session.scalars(select(models.Item.id).where(
            models.Item.external_id == "822001_2")).one()
    main(["action", "hide", str(item_id), "--by", "champion@oakfield.sch.uk",
          "--config", str(path)])
    main(["evidence", "export", "--incident", "1", "--out", str(tmp_path / "police"),
          "--by", "head@oakfield.sch.uk", "--config", str(path)])
    capsys.readouterr()

    folder = tmp_path / "police"
    records = [read(folder, e["file"]) for e in read(folder, "manifest.json")["entries"]]
    reasons = [r["content"].get("reason") or r["content"].get("action") for r in records]
    assert reasons == ["alerted urgent", "before hide", "hide", "hold"]
    hide = records[2]["content"]
    assert (hide["actor"], hide["ok"], hide["item_id"]) == ("champion@oakfield.sch.uk", True,
                                                             item_id)
    [payload] = read(folder, "manifest.json")["payloads"]
    assert payload == {"file": "payloads/facebook-822001_2.json",
                       "records": [records[0]["seq"], records[1]["seq"]]}
    assert read(folder, payload["file"])["message"] == THREAT
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "before it was hidden" in html and "champion@oakfield.sch.uk" in html
    assert "EAAB-page-token" not in "".join(p.read_text(encoding="utf-8")
                                            for p in folder.rglob("*") if p.is_file())
    assert verify_folder(folder).ok


def test_a_manifest_that_names_files_outside_the_folder_is_refused_not_followed(folder):
    manifest = read(folder, "manifest.json")
    manifest["files"].append({"path": "../../outside.txt", "sha256": "0" * 64, "size": 1})
    manifest["entries"][0]["file"] = "/etc/hostname"
    write(folder, "manifest.json", manifest)
    (folder.parent.parent / "outside.txt").write_text("x", encoding="utf-8")
    said = "\n".join(verify_folder(folder).lines())
    assert "names '../../outside.txt', which is not a file of the folder" in said
    assert "names '/etc/hostname', which is not a file of the folder" in said
    manifest["entries"] = "garbled"
    write(folder, "manifest.json", manifest)
    assert "not laid out as an export's manifest" in "\n".join(verify_folder(folder).lines())
