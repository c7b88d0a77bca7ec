"""HR's calibration page: the 9-box, rater leniency and the pay consequences priced by the real rewards service.

The cycle is written into the reviews database as its workflow would leave it at calibration
(tests/cycle_reads/support.py); rewards knows the people from the directory's events on NATS
and their pay from its compensation import.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from shared.auth import Role
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.cycle_reads.support import Seeded, open_session
from tests.rewards.support import MATRIX, add_bands, band, import_csv, today
from tests.support.waiting import wait_until
from tests.web.conftest import StackFactory, csrf_of, sign_in_as
from web import pages as web_pages

pytestmark = pytest.mark.database


async def test_calibration_shows_nine_box_raters_and_pay_consequences(
    web_stack: StackFactory, auth: TokenFactory, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with web_stack("reviews", "rewards") as stack:
        reviews, rewards = stack.services["reviews"], stack.services["rewards"]
        seeded = await Seeded(reviews, auth, settings).build()
        await seeded.set_cycle(phase="calibration")
        session_id = await open_session(seeded)
        await seeded.set_participant(seeded.alice, proposed_rating="4", final_rating="4")
        await seeded.set_participant(seeded.bob, proposed_rating="3", final_rating="3")
        await seeded.set_participant(seeded.manager, proposed_rating="2", final_rating="2")
        hanna = await stack.add_person("Hanna HR", "People")
        hr = auth(Role.hr, person_id=uuid.UUID(hanna))

        # Pay: alice and bob at the midpoint of L1 (50,000 EUR); the manager has no record.
        await add_bands(rewards, hr, band("L1", "EUR", "40000", "50000", "60000"))
        past = today() - timedelta(days=30)

        async def imported() -> bool:
            response = await import_csv(
                rewards, hr, (seeded.alice, "EUR", "50000.00", "L1", past), (seeded.bob, "EUR", "50000.00", "L1", past)
            )
            return response.status_code == 200

        await wait_until(imported, timeout=30, message="rewards knows alice and bob")
        assert (await rewards.put("/merit-matrices/default", json=MATRIX, headers=hr)).status_code == 201

        # A manager does not open HR's page.
        await sign_in_as(stack.web, seeded.manager)
        assert (await stack.web.get(f"/hr/calibration/{session_id}")).status_code == 403

        await sign_in_as(stack.web, hanna)
        page = await stack.web.get(f"/hr/calibration/{session_id}")
        assert page.status_code == 200, page.text
        html = page.text
        assert 'aria-labelledby="chart-ninebox-title"' in html
        assert "Not placed yet" in html
        assert "alice" in html.split("Not placed yet")[1]
        # Rater leniency: one manager with two reports (4 and 3) against a session mean of 3.
        assert "Rater leniency" in html
        assert "3.5" in html.split("Rater leniency")[1]
        # Matrix targets at compa-ratio 1.0: rating 4 -> 4 % (2,000), rating 3 -> 2.5 % (1,250).
        consequences = html.split("Pay consequences")[1]
        assert 'aria-labelledby="chart-spend-title"' in consequences
        assert "(2 of 3 people priced)" in consequences
        assert "<td>3,250</td>" in consequences
        assert "no budget yet" in consequences  # rewards has no pay cycle during calibration

        # A rating change: the page then shows what that change costs.
        token = csrf_of(html)
        moved = await stack.web.post(
            f"/hr/calibration/{session_id}/adjustments",
            data={"csrf_token": token, "person_id": seeded.bob, "to_rating": "4", "reason": "Led the migration"},
        )
        assert moved.status_code == 303, moved.text
        after = (await stack.web.get(moved.headers["location"])).text
        assert "<td>4,000</td>" in after
        assert "The last change (bob, 3 → 4) changes the merit increase by 750" in after

        # The ratings table by manager, the changed ones only, and a page at a time (by name).
        def names_in_table(page_html: str) -> list[str]:
            table = page_html.split("Proposed and final ratings</caption>")[1].split("</table>")[0]
            return [cell.split("</th>")[0] for cell in table.split('<th scope="row">')[1:]]

        base = f"/hr/calibration/{session_id}"
        assert names_in_table(after) == ["alice", "bob", "mgr"]
        changed = (await stack.web.get(base, params={"changed": "1"})).text
        assert names_in_table(changed) == ["bob"]
        mine = (await stack.web.get(base, params={"manager": seeded.manager})).text
        assert names_in_table(mine) == ["alice", "bob"]
        assert f'<option value="{seeded.manager}" selected>mgr</option>' in mine
        monkeypatch.setattr(web_pages, "CALIBRATION_ROWS", 2)
        first = (await stack.web.get(base)).text
        assert names_in_table(first) == ["alice", "bob"]
        assert f'href="{base}?&offset=2"' in first
        assert names_in_table((await stack.web.get(base, params={"offset": "2"})).text) == ["mgr"]
        nobody = (await stack.web.get(base, params={"manager": str(uuid.uuid4())})).text
        assert "No rating matches." in nobody

        # Potential: a point off the potential scale stands beside its own field; then alice is placed.
        bad = await stack.web.post(
            f"/hr/calibration/{session_id}/adjustments",
            data={
                "csrf_token": token,
                "kind": "potential",
                "potential_person_id": seeded.alice,
                "potential_to_rating": "5",
                "potential_reason": "Talent review",
            },
        )
        assert bad.status_code == 422, bad.text
        assert 'id="error-potential_to_rating"' in bad.text
        assert 'aria-describedby="error-potential_to_rating"' in bad.text
        placed = await stack.web.post(
            f"/hr/calibration/{session_id}/adjustments",
            data={
                "csrf_token": token,
                "kind": "potential",
                "potential_person_id": seeded.alice,
                "potential_to_rating": "3",
                "potential_reason": "Talent review",
            },
        )
        assert placed.status_code == 303, placed.text
        box = (await stack.web.get(f"/hr/calibration/{session_id}")).text
        people_per_cell = box.split("People per cell of the 9-box")[1].split("</table>")[0]
        assert "<td>high</td><td>high</td><td>alice</td>" in people_per_cell
