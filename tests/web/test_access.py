"""Who sees what: the Viewer's permissions per role, school isolation and the 403 page."""

from __future__ import annotations

import pytest

from monitor.web.access import (
    Viewer,
    current_viewer,
    forbidden,
    login_required,
    require_role,
    require_school,
    schools_visible,
)
from tests.web.conftest import CASES, STAFF
from tests.web.test_auth import sign_in


def viewer(role: str, school: str | None = "oakfield") -> Viewer:
    return Viewer(id=1, email=f"{role}@oakfield.example", name="", role=role,
                  school_id=None if role == "admin" else school)


# role: (sees comment text, sees private notes, can moderate, is IT, sees sources)
PERMISSIONS = {
    "digital_champion": (True, False, True, False, False),
    "dsl": (True, True, True, False, False),
    "head": (True, True, True, False, True),
    "it": (False, False, False, True, True),
    "admin": (True, False, True, False, True),
}


@pytest.mark.parametrize("role", sorted(PERMISSIONS))
def test_each_role_sees_and_does_what_the_school_policy_gives_it(role):
    who = viewer(role)
    assert (who.sees_comment_text, who.sees_private_notes, who.can_moderate, who.is_it,
            who.sees_sources) == PERMISSIONS[role]


def test_staff_see_their_own_school_and_a_trust_admin_every_school():
    assert schools_visible(viewer("dsl")) == ["oakfield"]
    assert schools_visible(viewer("it", "riverside")) == ["riverside"]
    assert schools_visible(viewer("admin")) is None
    assert viewer("dsl").sees_school("oakfield") and not viewer("dsl").sees_school("riverside")
    assert viewer("admin").sees_school("riverside")


@pytest.fixture
def app(world):
    """The console with three extra views standing for pages that use the helpers."""
    from monitor.web.app import create_app

    app = create_app(world.config, world.sessions)

    @login_required
    def school_page(school_id: str) -> str:
        require_school(school_id)
        return f"school page of {school_id} for {current_viewer().email}"

    @login_required
    def sources_page() -> str:
        require_role("it")
        return "sources"

    @login_required
    def refusing_page() -> str:
        forbidden()

    app.add_url_rule("/test-school/<school_id>", "school_page", school_page)
    app.add_url_rule("/test-sources", "sources_page", sources_page)
    app.add_url_rule("/test-refusing", "refusing_page", refusing_page)
    return app


def as_staff(app, who: str):
    client = app.test_client()
    assert sign_in(client, STAFF[who][0]).status_code == 303
    return client


def test_a_page_behind_login_required_sends_visitors_to_sign_in_and_back(app):
    answer = app.test_client().get("/test-school/oakfield?tab=1")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/sign-in?next=%2Ftest-school%2Foakfield%3Ftab%3D1"


def test_a_member_of_staff_of_one_school_is_refused_another_schools_page(app):
    dsl = as_staff(app, "dsl")
    assert dsl.get("/test-school/oakfield").status_code == 200
    refused = dsl.get("/test-school/riverside")
    assert refused.status_code == 403
    assert "Not available to you" in refused.text and "riverside" not in refused.text.lower()
    assert as_staff(app, "riverside_dsl").get("/test-school/oakfield").status_code == 403


def test_a_trust_admin_sees_every_school(app):
    admin = as_staff(app, "admin")
    for school in ("oakfield", "riverside"):
        assert admin.get(f"/test-school/{school}").status_code == 200


def test_a_role_page_refuses_other_roles_but_not_a_trust_admin(app):
    assert as_staff(app, "it").get("/test-sources").status_code == 200
    assert as_staff(app, "admin").get("/test-sources").status_code == 200
    assert as_staff(app, "champion").get("/test-sources").status_code == 403


def test_the_403_page_is_a_page_with_the_layout_and_headers(app):
    refused = as_staff(app, "head").get("/test-refusing")
    assert refused.status_code == 403
    assert 'name="viewport"' in refused.text and "Signed in as" in refused.text
    assert "frame-ancestors 'none'" in refused.headers["Content-Security-Policy"]


def test_another_schools_incident_is_refused_without_showing_any_of_it(app, world):
    """The pages use these helpers: an incident of Riverside is a 403 to Oakfield's DSL."""
    riverside = f"/incidents/{world.incidents['riverside']}"
    refused = as_staff(app, "dsl").get(riverside)
    assert refused.status_code == 403
    for comment in CASES["riverside"].comments:
        assert comment.text not in refused.text and comment.author not in refused.text
    assert as_staff(app, "riverside_dsl").get(riverside).status_code == 200
    assert as_staff(app, "admin").get(riverside).status_code == 200


def test_the_header_names_the_viewers_school_and_its_navigation(app):
    page = as_staff(app, "champion").get("/test-school/oakfield")
    assert page.status_code == 200
    layout = as_staff(app, "champion").get("/audit").text
    assert "Oakfield Primary School" in layout and "Riverside Academy" not in layout
    assert 'href="/sources"' not in layout  # the sources page is IT's
    assert 'href="/sources"' in as_staff(app, "it").get("/audit").text
    admin = as_staff(app, "admin").get("/audit").text
    assert "Oakfield Primary School" in admin and "Riverside Academy" in admin
