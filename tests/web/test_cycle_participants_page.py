"""HR chooses a new cycle's participants by every filter the reviews service has (web over reviews):
departments, organisations, divisions, locations, a hire date, managers' subtrees, and people
added or left out by name. The draft's page names the filters and how many people they take now,
which follows the directory until launch."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.database import utcnow
from tests.reviews_config.builders import scale_body, template_body
from tests.web.conftest import StackFactory, client_of, csrf_of
from web.pages import PHASES

pytestmark = pytest.mark.database


async def test_hr_picks_participants_by_organisation_division_and_by_name(web_stack: StackFactory) -> None:
    async with web_stack("reviews") as stack:
        reviews = stack.services["reviews"]
        hr = stack.hr_headers
        # name: (organization, division)
        org = {
            "Ana Acme Platform": ("Acme", "Platform"),
            "Ben Acme Platform": ("Acme", "Platform"),
            "Cai Acme Sales": ("Acme", "Sales"),
            "Dee Other Platform": ("Other", "Platform"),
            "Eve Nowhere": (None, None),
        }
        for name, (organization, division) in org.items():
            await stack.add_person(name, "Eng", organization=organization, division=division)
        await stack.add_person("Hanna HR", "People")
        await stack.add_person("Mia Manager", "Eng")
        scale = (await reviews.post("/rating-scales", json=scale_body(), headers=hr)).json()
        template = (await reviews.post("/templates", json=template_body(scale["id"]), headers=hr)).json()
        assert (await reviews.post(f"/templates/{template['id']}/publish", headers=hr)).status_code == 200
        ben, eve = stack.people["Ben Acme Platform"], stack.people["Eve Nowhere"]

        hanna = await client_of(stack, "Hanna HR")
        form = await hanna.get("/hr/cycles/new")
        for field in ("organizations", "divisions", "include", "exclude"):
            assert f'name="{field}"' in form.text, field
        day = utcnow().date()
        fields = {
            "csrf_token": csrf_of(form.text),
            "name": "Platform 2026",
            "template_id": template["id"],
            "period_start": f"{day.year}-01-01",
            "period_end": f"{day.year}-12-31",
            "organizations": "Acme, ",
            "divisions": "Platform",
            "include": [eve],
            "exclude": [ben],
            "reminder_every_hours": "48",
            **{f"deadline_{phase}": str(day + timedelta(days=14 * (n + 1))) for n, phase in enumerate(PHASES)},
        }
        created = await hanna.post("/hr/cycles", data=fields)
        assert created.status_code == 303, created.text
        cycle_id = created.headers["location"].rsplit("/", 1)[1]
        stored = (await reviews.get(f"/review-cycles/{cycle_id}", headers=hr)).json()
        assert stored["filters"] == {
            "organizations": ["Acme"],
            "divisions": ["Platform"],
            "include": [eve],
            "exclude": [ben],
        }
        # Acme's Platform people (Ana; Ben is left out) and Eve by name.
        assert stored["matching_now"] == 2

        page = await hanna.get(f"/hr/cycles/{cycle_id}")
        assert "2 people match the filters now; launching takes them." in page.text
        assert "Organisations: Acme" in page.text
        assert "Also: Eve Nowhere" in page.text
        assert "Left out: Ben Acme Platform" in page.text
        # The count follows the directory until launch: Cai moves to Platform.
        cai = stack.people["Cai Acme Sales"]
        moved = await reviews.patch(f"/people/{cai}", json={"division": "Platform"}, headers=hr)
        assert moved.status_code == 200, moved.text
        assert "3 people match the filters now" in (await hanna.get(f"/hr/cycles/{cycle_id}")).text

        # Kept as chosen when the form is refused (no name): the lists and the text filters.
        refused = await hanna.post("/hr/cycles", data={**fields, "name": ""})
        assert refused.status_code == 422, refused.text
        assert f'<option value="{eve}" selected>' in refused.text
        assert f'<option value="{ben}" selected>' in refused.text
        assert 'id="organizations" name="organizations" value="Acme, "' in refused.text
        # A person the directory does not know, as a manager whose people take part: named beside
        # the filters, nothing stored.
        before = (await reviews.get("/review-cycles", headers=hr)).json()["total"]
        unknown = await hanna.post(
            "/hr/cycles", data={**fields, "manager_subtrees": "0e7d9c4b-2f1a-4b3c-8d5e-6f7a8b9c0d1e"}
        )
        assert unknown.status_code == 422, unknown.text
        assert 'id="error-filters"' in unknown.text
        assert (await reviews.get("/review-cycles", headers=hr)).json()["total"] == before
